"""Masks -> polygons -> rasterised masks, WKT formatting, polygonize and gather CLIs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import gather, mask_to_polygons, read_rows, to_wkt
from dstl_hpc.prepare.raster import rasterize
from dstl_hpc.prepare.stacks import write_prediction
from dstl_hpc.sources.dstl import grid_to_pixels, parse_wkt, pixels_to_grid

REPO = Path(__file__).resolve().parent.parent


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def structured_mask(rng, h=96, w=112) -> np.ndarray:
    """Blobs with holes, islands in holes, thin 1-2 px lines, single pixels, diagonals."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(3):  # rings: blob, hole, island in the hole, a pixel in the island's hole
        cy, cx = rng.integers(15, h - 15), rng.integers(15, w - 15)
        r = int(rng.integers(9, 14))
        cv2.circle(m, (int(cx), int(cy)), r, 1, -1)
        cv2.circle(m, (int(cx), int(cy)), r - 3, 0, -1)
        cv2.circle(m, (int(cx), int(cy)), r - 5, 1, -1)
        cv2.circle(m, (int(cx), int(cy)), 1, 0, -1)
        m[cy, cx] = 1
    for _ in range(4):  # thin lines, 1 or 2 px, straight and slanted
        p0 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        cv2.line(m, p0, p1, 1, int(rng.integers(1, 3)))
    ys, xs = rng.integers(0, h, 30), rng.integers(0, w, 30)
    m[ys, xs] = 1  # single pixels
    m[0, :5] = 1  # touching the image edge
    m[-1, -1] = 1
    # a diagonal chain and a checkerboard patch (pixels touching only at corners)
    for i in range(6):
        m[h // 2 + i, 3 + i] = 1
    m[5:11, w - 12 : w - 6] = (np.indices((6, 6)).sum(0) % 2).astype(np.uint8)
    return m


def noise_mask(rng, h, w) -> np.ndarray:
    n = rng.normal(size=(h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), float(rng.uniform(0.6, 3.0)))
    return (n > rng.uniform(-0.3, 0.3)).astype(np.uint8)


def test_round_trip_exact_at_epsilon_0():
    rng = np.random.default_rng(1)
    worst = 1.0
    for trial in range(40):
        if trial % 4 == 0:
            m = (rng.random((int(rng.integers(3, 40)), int(rng.integers(3, 40)))) < 0.5).astype(
                np.uint8
            )
        elif trial % 4 == 1:
            m = noise_mask(rng, int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        else:
            m = structured_mask(rng)
        mp = mask_to_polygons(m, epsilon=0, min_area=0)
        assert mp.is_valid and mp.geom_type == "MultiPolygon"
        back = rasterize(mp, m.shape)
        worst = min(worst, iou(back, m))
        # pixel-edge polygons: the area is the pixel count
        assert mp.area == pytest.approx(m.sum())
    assert worst >= 0.98
    assert worst == 1.0  # exact in practice


def test_holes_islands_and_thin_shapes_are_kept():
    m = np.zeros((40, 40), np.uint8)
    m[5:35, 5:35] = 1
    m[10:30, 10:30] = 0  # hole
    m[15:25, 15:25] = 1  # island in the hole
    m[19, 19] = 0  # a one-pixel hole in the island
    m[38, 2:30] = 1  # 1-px line
    m[0, 0] = 1  # single pixel
    mp = mask_to_polygons(m, 0, 0)
    assert len(mp.geoms) == 4
    assert sum(len(p.interiors) for p in mp.geoms) == 2
    assert np.array_equal(rasterize(mp, m.shape), m)


def test_empty_and_full_masks():
    assert mask_to_polygons(np.zeros((5, 7), np.uint8)).is_empty
    mp = mask_to_polygons(np.ones((5, 7), bool))
    assert mp.equals(box(0, 0, 7, 5))


def test_min_area_drops_small_parts_and_holes():
    m = np.zeros((60, 60), np.uint8)
    m[5:25, 5:25] = 1
    m[10:13, 10:13] = 0  # 9 px hole: filled
    m[15:21, 15:21] = 0  # 36 px hole: kept
    m[40:44, 40:44] = 1  # 16 px part: kept
    m[50:52, 50:53] = 1  # 6 px part: dropped
    mp = mask_to_polygons(m, epsilon=0, min_area=10)
    assert mp.area == pytest.approx(400 - 36 + 16)
    assert sum(len(p.interiors) for p in mp.geoms) == 1
    assert len(mp.geoms) == 2


def test_epsilon_simplifies_and_stays_valid():
    rng = np.random.default_rng(3)
    m = noise_mask(rng, 200, 240)
    exact = mask_to_polygons(m, 0, 0)
    simple = mask_to_polygons(m, 2, 0)
    assert simple.is_valid
    n_exact = shapely.get_num_coordinates(exact)
    assert shapely.get_num_coordinates(simple) < n_exact
    assert iou(rasterize(simple, m.shape), m) > 0.9


def test_wkt_grid_scaling_round_trip():
    rng = np.random.default_rng(4)
    m = structured_mask(rng, 90, 100)
    h, w = m.shape
    xmax, ymin = 0.00918, -0.00904
    grid = pixels_to_grid(mask_to_polygons(m, 0, 0), w, h, xmax, ymin)
    text = to_wkt(grid)
    assert text.startswith("MULTIPOLYGON (((")
    assert "e-" not in text and "E" not in text.replace("MULTIPOLYGON", "")
    tokens = text.replace(",", " ").replace("(", " ").replace(")", " ").split()
    decimals = {len(tok.split(".")[1]) for tok in tokens if "." in tok}
    assert max(decimals) <= 8
    back = parse_wkt(text, "test")
    assert back.is_valid
    px = grid_to_pixels(back, w, h, xmax, ymin)
    assert np.array_equal(rasterize(px, (h, w)), m)
    assert to_wkt(shapely.MultiPolygon()) == "MULTIPOLYGON EMPTY"


def test_to_wkt_repairs_a_bow_tie():
    bow = shapely.from_wkt("POLYGON ((0 0, 2 2, 2 0, 0 2, 0 0))")
    text = to_wkt(bow)
    back = shapely.from_wkt(text)
    assert back.is_valid and back.area == pytest.approx(2.0)


def _write_grid(path: Path, rows) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "Xmax", "Ymin"])
        w.writerows(rows)


def test_polygonize_cli(tmp_path, capsys):
    rng = np.random.default_rng(5)
    m = structured_mask(rng, 80, 90)
    prob = np.where(m > 0, 200, 30).astype(np.uint8)
    other = np.zeros_like(prob)
    pred = tmp_path / "6120_2_2.h5"
    write_prediction(pred, np.stack([other, prob]), "6120_2_2", [1, 2])
    grid = tmp_path / "grid_sizes.csv"
    _write_grid(grid, [["6120_2_2", 0.009, -0.0089]])
    out = tmp_path / "piece.csv"
    args = ["polygonize", str(pred), str(out), "--class", "2", "--grid-sizes", str(grid)]
    assert main(args + ["--threshold", "0.5", "--epsilon", "0", "--min-area", "0"]) == 0
    rows = read_rows(out)
    assert len(rows) == 1 and rows[0][:2] == ("6120_2_2", 2)
    geom = parse_wkt(rows[0][2], "out")
    assert geom.is_valid
    px = grid_to_pixels(geom, 90, 80, 0.009, -0.0089)
    assert np.array_equal(rasterize(px, (80, 90)), m)
    assert out.read_text().splitlines()[0] == "ImageId,ClassType,MultipolygonWKT"

    # threshold from a sweep JSON; above every probability -> empty
    tj = tmp_path / "t.json"
    tj.write_text(
        json.dumps(
            {"class": 2, "threshold": 0.9, "epsilon": 0, "min_area": 0}
            | {"thresholds": [0.9], "scores": [None]}
        )
    )
    assert main(args + ["--threshold-json", str(tj)]) == 0
    assert read_rows(out)[0][2] == "MULTIPOLYGON EMPTY"

    # class 1 is all zeros -> empty; class 3 is not in the file -> error
    assert main(args[:4] + ["1"] + args[5:] + ["--threshold", "0.5"]) == 0
    assert read_rows(out)[0][2] == "MULTIPOLYGON EMPTY"
    assert main(args[:4] + ["3"] + args[5:] + ["--threshold", "0.5"]) == 2
    assert "class 3 not predicted" in capsys.readouterr().err


def test_polygonize_missing_grid_id(tmp_path, capsys):
    pred = tmp_path / "p.h5"
    write_prediction(pred, np.zeros((1, 20, 20), np.uint8), "6010_0_0", [5])
    grid = tmp_path / "grid_sizes.csv"
    _write_grid(grid, [["6120_2_2", 0.009, -0.009]])
    out = tmp_path / "o.csv"
    rc = main(
        ["polygonize", str(pred), str(out), "--class", "5", "--grid-sizes", str(grid)]
        + ["--threshold", "0.5"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "grid_sizes.csv" in err and "6010_0_0" in err
    assert not out.exists()


def test_polygonize_does_not_import_torch(tmp_path):
    pred = tmp_path / "p.h5"
    write_prediction(pred, np.full((1, 16, 16), 255, np.uint8), "6010_0_0", [5])
    grid = tmp_path / "grid_sizes.csv"
    _write_grid(grid, [["6010_0_0", 0.009, -0.009]])
    code = (
        "import sys; from dstl_hpc.cli import main; "
        f"rc = main(['polygonize', {str(pred)!r}, {str(tmp_path / 'o.csv')!r}, '--class', '5', "
        f"'--grid-sizes', {str(grid)!r}, '--threshold', '0.5']); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_gather_sorts_and_rejects_duplicates(tmp_path):
    def piece(name, rows):
        p = tmp_path / name
        p.write_text(
            "ImageId,ClassType,MultipolygonWKT\n" + "".join(f'{i},{k},"{w}"\n' for i, k, w in rows)
        )
        return p

    a = piece("a.csv", [("6120_2_2", 10, "MULTIPOLYGON EMPTY")])
    b = piece("b.csv", [("6120_2_2", 2, "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))")])
    c = piece("c.csv", [("6010_0_0", 2, "MULTIPOLYGON EMPTY")])
    out = tmp_path / "all.csv"
    assert main(["gather", str(out), str(a), str(b), str(c)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,ClassType,MultipolygonWKT"
    assert [tuple(r[:2]) for r in read_rows(out)] == [
        ("6010_0_0", 2),
        ("6120_2_2", 2),
        ("6120_2_2", 10),
    ]
    with pytest.raises(DstlError, match="already in"):
        gather(out, [a, a])
