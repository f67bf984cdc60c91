"""Labels are never lost without a word: a training polygon outside its image's grid
extent is warned about and recorded in the mask file; a class no merge input has is
warned about, naming the class."""

from __future__ import annotations

import csv
import json
import logging

import h5py
import numpy as np

from dstl_hpc.cli import main
from dstl_hpc.sources.dstl import grid_of

HEADER = ["ImageId", "ClassType", "MultipolygonWKT"]
EMPTY = "MULTIPOLYGON EMPTY"


def square(x0, y0, x1, y1) -> str:
    return f"(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def multi(*polys) -> str:
    return f"MULTIPOLYGON ({', '.join(polys)})"


def write_rows(path, rows, header=HEADER):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# ------------------------------------------------------------ masks


def test_polygons_outside_the_grid_extent_are_warned_about_and_recorded(data, tmp_path, caplog):
    with open(data.train_wkt, newline="") as fh:
        image_id = list(csv.reader(fh))[1][0]
    xmax, ymin = grid_of(data, image_id)
    inside = square(0.1 * xmax, 0.1 * ymin, 0.3 * xmax, 0.3 * ymin)
    half_out = square(0.8 * xmax, 0.5 * ymin, 1.2 * xmax, 0.6 * ymin)  # its right half
    # 0.2 % of its area past Xmax: rounding at the edge, no warning
    edge = square(0.5 * xmax, 0.5 * ymin, 1.001 * xmax, 0.9 * ymin)
    wkt = {
        1: multi(inside),
        2: multi(edge),
        3: multi(square(2 * xmax, 0.1 * ymin, 3 * xmax, 0.3 * ymin)),  # far outside
        5: multi(inside, half_out),
    }
    rows = [(image_id, k, wkt.get(k, EMPTY)) for k in range(1, 11)]
    write_rows(data.train_wkt, rows)
    out = tmp_path / "masks" / f"{image_id}.h5"
    with caplog.at_level(logging.WARNING):
        assert main(["masks", str(data.root), image_id, str(out)]) == 0
    said = warnings(caplog)
    assert len(said) == 2, said
    where = f"{data.train_wkt}, image {image_id}"
    assert said[0].startswith(f"{where}, class 3: 1 of 1 polygon(s) outside the image's grid")
    assert "1 dropped, 0 clipped; 100.0% of the class's polygon area lost" in said[0]
    assert said[1].startswith(f"{where}, class 5: 1 of 2 polygon(s) outside the image's grid")
    assert "0 dropped, 1 clipped; 25.0% of the class's polygon area lost" in said[1]
    with h5py.File(out, "r") as h5:
        recorded = json.loads(h5.attrs["dropped_polygons"])
        mask = h5["mask"][:]
    assert recorded == {
        "3": {"polygons": 1, "dropped": 1, "clipped": 0, "area_outside": 1.0},
        "5": {"polygons": 2, "dropped": 0, "clipped": 1, "area_outside": 0.25},
    }
    assert mask[2].sum() == 0 and mask[0].sum() > 0 and mask[1].sum() > 0
    from dstl_hpc.prepare.masks import OUTSIDE_TOLERANCE

    assert OUTSIDE_TOLERANCE == 0.01  # docs/contracts.md says 1 %


def test_a_mask_with_every_polygon_inside_records_none(data, tmp_path, caplog):
    with open(data.train_wkt, newline="") as fh:
        image_id = list(csv.reader(fh))[1][0]
    out = tmp_path / "m.h5"
    with caplog.at_level(logging.WARNING):
        assert main(["masks", str(data.root), image_id, str(out)]) == 0
    assert not [w for w in warnings(caplog) if "grid extent" in w]
    with h5py.File(out, "r") as h5:
        assert json.loads(h5.attrs["dropped_polygons"]) == {}
        assert np.asarray(h5["mask"]).any()


# ------------------------------------------------------------ merge


def test_merge_warns_about_each_class_no_input_has(tmp_path, caplog, capsys):
    poly = multi(square(0, 0, 0.001, -0.001))
    sample = write_rows(
        tmp_path / "sample.csv", [(i, k, poly) for i in ("I1", "I2") for k in range(1, 11)]
    )
    one = write_rows(tmp_path / "class_1.csv", [("I1", 1, poly), ("I2", 1, EMPTY)])
    two = write_rows(tmp_path / "class_2.csv", [("I1", 2, EMPTY), ("I2", 2, EMPTY)])
    out, sources = tmp_path / "sub.csv", tmp_path / "sources.json"
    args = ["merge", str(out), str(one), str(two), "--sample", str(sample)]
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--sources", str(sources)]) == 0
    said = warnings(caplog)
    assert len(said) == 8, said
    for k, message in zip(range(3, 11), said, strict=True):
        assert message.startswith(f"class {k}: no input has a row of it"), message
        assert str(out) in message
    summary = json.loads(sources.read_text())
    assert summary["no_input"] == list(range(3, 11))
    assert summary["classes"]["1"] == str(one) and summary["classes"]["2"] is None
    printed = capsys.readouterr().out
    assert "class  2: MULTIPOLYGON EMPTY (every polygon empty)" in printed
    assert "class  3: MULTIPOLYGON EMPTY (no input has it)" in printed
    # the classes asked for only: none missing, no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--classes", "1", "2"]) == 0
    assert warnings(caplog) == []
