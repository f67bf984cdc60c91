"""merge: sample row order, last-wins per class, empty fill, gzip, valid WKT."""

from __future__ import annotations

import csv
import gzip
import json
import logging

import pytest
import shapely

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons.submission import merge

A = "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 1, 0 0)))"
B = "MULTIPOLYGON (((0 0, 2 0, 2 2, 0 2, 0 0)))"
C = "MULTIPOLYGON (((5 5, 6 5, 6 6, 5 6, 5 5)))"
BOWTIE = "MULTIPOLYGON (((0 0, 2 2, 2 0, 0 2, 0 0)))"
EMPTY = "MULTIPOLYGON EMPTY"


def write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ImageId", "ClassType", "MultipolygonWKT"])
        w.writerows(rows)
    return path


def read(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ImageId", "ClassType", "MultipolygonWKT"]
    return [(r[0], int(r[1]), r[2]) for r in rows[1:]]


@pytest.fixture
def sample(tmp_path):
    # deliberately not sorted
    order = [(i, k) for i in ("T2", "T1", "T3") for k in (3, 1, 2)]
    return write_csv(tmp_path / "sample.csv", [(i, k, EMPTY) for i, k in order]), order


def test_merge_order_and_last_wins(tmp_path, sample, caplog):
    sample_csv, order = sample
    first = write_csv(
        tmp_path / "first.csv",
        [("T1", 1, A), ("T2", 1, B), ("T1", 2, A), ("T2", 2, B), ("T1", 3, C)],
    )
    # class 1 non-empty only on T3 -> wins for ALL images (T1, T2 become empty);
    # class 2 all empty -> first.csv keeps class 2; X9 is not in the sample.
    second = write_csv(
        tmp_path / "second.csv",
        [("T3", 1, C), ("T1", 2, EMPTY), ("T2", 2, EMPTY), ("X9", 3, A)],
    )
    out = tmp_path / "sub.csv"
    with caplog.at_level(logging.WARNING):
        winners, truth_ids, _ = merge(out, [first, second], sample_csv)
    assert "X9" in caplog.text
    rows = read(out)
    assert [(i, k) for i, k, _ in rows] == order
    got = {(i, k): w for i, k, w in rows}
    assert got[("T3", 1)] == C and got[("T1", 1)] == EMPTY and got[("T2", 1)] == EMPTY
    assert got[("T1", 2)] == A and got[("T2", 2)] == B and got[("T3", 2)] == EMPTY
    assert got[("T1", 3)] == C and got[("T2", 3)] == EMPTY
    assert winners[1].endswith("second.csv") and winners[2].endswith("first.csv")
    assert winners[4] is None and truth_ids == []


def test_training_ids_in_the_sample_get_their_truth_polygons(tmp_path, sample):
    sample_csv, order = sample
    pred = write_csv(tmp_path / "pred.csv", [(i, k, A) for i, k in order])
    truth = write_csv(tmp_path / "truth.csv", [("T2", 1, B), ("T2", 2, EMPTY), ("X7", 1, C)])
    out = tmp_path / "sub.csv"
    winners, truth_ids, _ = merge(out, [pred], sample_csv, truth_csv=truth)
    got = {(i, k): w for i, k, w in read(out)}
    assert truth_ids == ["T2"]
    # T2 is a training id: its truth for every class (class 3 has none: empty).
    assert got[("T2", 1)] == B and got[("T2", 2)] == EMPTY and got[("T2", 3)] == EMPTY
    assert got[("T1", 1)] == A and got[("T3", 3)] == A
    sources = tmp_path / "sources.json"
    argv = ["merge", str(tmp_path / "s2.csv"), str(pred), "--sample", str(sample_csv)]
    assert main([*argv, "--truth", str(truth), "--sources", str(sources)]) == 0
    assert json.loads(sources.read_text())["truth_ids"] == ["T2"]


def test_merge_gzip_classes_and_repair(tmp_path, sample):
    sample_csv, order = sample
    inp = write_csv(tmp_path / "in.csv", [("T1", 1, BOWTIE), ("T2", 2, A), ("T3", 3, B)])
    out = tmp_path / "sub.csv.gz"
    assert (
        main(["merge", str(out), str(inp), "--sample", str(sample_csv), "--classes", "1", "3"]) == 0
    )
    with open(out, "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    rows = read(out)
    assert len(rows) == len(order)
    got = {(i, k): w for i, k, w in rows}
    assert got[("T2", 2)] == EMPTY  # class 2 not selected
    assert got[("T3", 3)] == B
    for _, _, wkt in rows:
        g = shapely.from_wkt(wkt)
        assert g.is_valid and g.geom_type == "MultiPolygon"
    assert shapely.from_wkt(got[("T1", 1)]).area == pytest.approx(2.0)


def test_merge_bad_inputs(tmp_path, sample):
    sample_csv, _ = sample
    bad = tmp_path / "bad.csv"
    bad.write_text("Id,Class,Wkt\n")
    with pytest.raises(DstlError, match="bad.csv"):
        merge(tmp_path / "o.csv", [bad], sample_csv)
    with pytest.raises(DstlError, match="file not found"):
        merge(tmp_path / "o.csv", [tmp_path / "nope.csv"], sample_csv)
    assert not (tmp_path / "o.csv").exists()
