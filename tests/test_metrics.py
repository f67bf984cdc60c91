"""The competition Jaccard against areas computed by hand."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.scoring.metrics import score

SQ = "MULTIPOLYGON ((({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0})))"


def sq(x0, y0, x1, y1) -> str:
    return SQ.format(x0=x0, y0=y0, x1=x1, y1=y1)


def write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ImageId", "ClassType", "MultipolygonWKT"])
        for r in rows:
            w.writerow(r)
    return path


EMPTY = "MULTIPOLYGON EMPTY"
# 4x4 square with a 1x1 hole at [1,2]^2: area 15
HOLED = "MULTIPOLYGON (((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 2, 1 1)))"
BOWTIE = "MULTIPOLYGON (((0 0, 2 2, 2 0, 0 2, 0 0)))"  # self-intersecting: two triangles, area 2


@pytest.fixture
def files(tmp_path):
    truth = write_csv(
        tmp_path / "truth.csv",
        [
            ("A", 1, HOLED),  # pred [2,6]x[0,4] (16): I = 8, U = 15 + 16 - 8 = 23
            ("A", 2, sq(0, 0, 1, 1)),  # pred [0,2]x[0,1]: I = 1, U = 2
            ("A", 3, sq(0, 0, 1, 1)),  # disjoint pred: I = 0, U = 2
            ("A", 4, EMPTY),  # empty truth, empty pred in both images -> null
            ("A", 5, EMPTY),  # empty truth, non-empty pred -> 0
            ("A", 6, sq(0, 0, 2, 2)),  # bow-tie pred: I = 2, U = 4
            ("B", 1, EMPTY),
            ("B", 2, sq(0, 0, 4, 2)),  # pred [0,1]x[0,1]: I = 1, U = 8
            ("B", 3, EMPTY),
            ("B", 4, EMPTY),
            ("B", 5, EMPTY),
            ("B", 6, EMPTY),
            ("C", 1, sq(0, 0, 1, 1)),  # not predicted: not scored by default
        ],
    )
    pred = write_csv(
        tmp_path / "pred.csv",
        [
            ("A", 1, sq(2, 0, 6, 4)),
            ("A", 2, sq(0, 0, 2, 1)),
            ("A", 3, sq(5, 5, 6, 6)),
            ("A", 4, EMPTY),
            ("A", 5, sq(0, 0, 1, 1)),
            ("A", 6, BOWTIE),
            ("B", 1, EMPTY),
            ("B", 2, sq(0, 0, 1, 1)),
            ("B", 3, EMPTY),
            ("B", 4, EMPTY),
            ("B", 5, EMPTY),
            ("B", 6, EMPTY),
            ("X", 1, sq(0, 0, 1, 1)),  # not in truth: ignored
        ],
    )
    return truth, pred


def test_scores_by_hand(files):
    truth, pred = files
    r = score(truth, [pred])
    pc = r["per_class"]
    assert r["images"] == ["A", "B"]
    assert pc["1"] == pytest.approx(8 / 23)
    # summed over images (2/10), not the mean of per-image ratios (0.3125)
    assert pc["2"] == pytest.approx(2 / 10)
    assert pc["3"] == 0.0
    assert pc["4"] is None  # no truth and no prediction anywhere: left out of the mean
    assert pc["5"] == 0.0
    assert pc["6"] == pytest.approx(0.5)  # bow-tie repaired into two triangles
    for k in ("7", "8", "9", "10"):
        assert pc[k] is None  # not predicted: not scored
    assert r["mean"] == pytest.approx(np.mean([8 / 23, 0.2, 0.0, 0.0, 0.5]))
    assert r["pixel_mean"] is None and set(r["pixel_per_class"]) == {str(k) for k in range(1, 11)}


def test_images_and_classes_options(files):
    truth, pred = files
    r = score(truth, [pred], images=["B"], classes=[2, 4])
    assert r["images"] == ["B"]
    assert r["per_class"]["2"] == pytest.approx(1 / 8)
    assert r["per_class"]["4"] is None and r["per_class"]["1"] is None
    assert r["mean"] == pytest.approx(1 / 8)
    # an image with truth but no prediction is scored as empty
    r = score(truth, [pred], images=["C"], classes=[1])
    assert r["per_class"]["1"] == 0.0
    with pytest.raises(DstlError, match="no truth polygons for image"):
        score(truth, [pred], images=["Z"])


def test_later_prediction_file_overrides(files, tmp_path):
    truth, pred = files
    fix = write_csv(tmp_path / "fix.csv", [("A", 3, sq(0, 0, 1, 1))])
    r = score(truth, [pred, fix], classes=[3])
    assert r["per_class"]["3"] == 1.0


def test_pixel_jaccard_and_cli_json(files, tmp_path, capsys):
    truth, pred = files
    data = tmp_path / "data"
    (data / "three_band").mkdir(parents=True)
    # 8 x 10 pixel images whose grid is such that 1 grid unit = 1 pixel (up to W/(W+1))
    h, w = 8, 10
    with open(data / "grid_sizes.csv", "w") as fh:
        fh.write(",Xmax,Ymin\n")
        for i in ("A", "B"):
            fh.write(f"{i},{w * w / (w + 1)},{-h * h / (h + 1)}\n")
            tifffile.imwrite(
                data / "three_band" / f"{i}.tif",
                np.zeros((3, h, w), np.uint16),
                photometric="minisblack",
            )
    out = tmp_path / "scores.json"
    rc = main(
        ["score", str(truth), str(pred), "--json", str(out), "--data-dir", str(data)]
        + ["--classes", "1", "2", "3", "4"]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    assert set(r) >= {"per_class", "mean", "pixel_per_class", "pixel_mean", "images"}
    assert r["per_class"]["1"] == pytest.approx(8 / 23)
    assert r["images"] == ["A", "B"]
    # these polygons have y > 0, i.e. pixel rows < 0: outside the images, so no pixels
    assert all(v is None for v in r["pixel_per_class"].values())
    table = capsys.readouterr().out
    assert "mean" in table and "buildings" in table


def test_pixel_jaccard_matches_polygons_for_pixel_squares(tmp_path):
    h, w = 8, 10
    xmax, ymin = w * w / (w + 1), -h * h / (h + 1)  # grid = pixel coordinates, y negated

    def gsq(x0, y0, x1, y1):
        return sq(x0, -y0, x1, -y1)

    truth = write_csv(tmp_path / "t.csv", [("A", 1, gsq(1, 1, 5, 5)), ("A", 2, gsq(0, 0, 2, 2))])
    pred = write_csv(tmp_path / "p.csv", [("A", 1, gsq(3, 1, 7, 4)), ("A", 2, gsq(8, 6, 10, 8))])
    data = tmp_path / "data"
    (data / "three_band").mkdir(parents=True)
    (data / "grid_sizes.csv").write_text(f",Xmax,Ymin\nA,{xmax},{ymin}\n")
    tifffile.imwrite(
        data / "three_band" / "A.tif", np.zeros((3, h, w), np.uint16), photometric="minisblack"
    )
    r = score(truth, [pred], data_dir=data)
    # class 1: truth 16 px, pred 12 px, overlap [3,5]x[1,4] = 6 -> 6 / 22
    assert r["per_class"]["1"] == pytest.approx(6 / 22)
    assert r["pixel_per_class"]["1"] == pytest.approx(6 / 22)
    assert r["pixel_per_class"]["2"] == 0.0
    assert r["pixel_mean"] == pytest.approx(3 / 22)


def test_unparsable_wkt_names_the_file(tmp_path):
    truth = write_csv(tmp_path / "t.csv", [("A", 1, sq(0, 0, 1, 1))])
    pred = write_csv(tmp_path / "p.csv", [("A", 1, "MULTIPOLYGON (((0 0, 1 0")])
    with pytest.raises(DstlError, match="p.csv"):
        score(truth, [pred])
