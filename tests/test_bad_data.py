"""Bad input data fails loudly (one line naming the file, exit 2, nothing written) or is
repaired with a warning naming the file; never silently wrong."""

from __future__ import annotations

import csv
import gzip
import json
import logging

import numpy as np
import pytest
import tifffile
from shapely.geometry import Polygon

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.align import align_image
from dstl_hpc.prepare.stacks import read_mask, write_prediction
from dstl_hpc.sources import dstl as dataset
from dstl_hpc.sources.dstl import band_shape_problem

HEADER = ["ImageId", "ClassType", "MultipolygonWKT"]
SQ = "MULTIPOLYGON ((({0} {1}, {2} {1}, {2} {3}, {0} {3}, {0} {1})))"
NAN_WKT = "MULTIPOLYGON (((0 0, 1 0, 1 NaN, 0 0)))"
INF_WKT = "MULTIPOLYGON (((0 0, inf 0, 1 1, 0 0)))"
TYPO_WKT = "MULTIPOLYGON EMTPY"  # no parenthesis: merge used to write it as EMPTY
CUT_WKT = "MULTIPOLYGON (((0 0, 1"
H, W = 64, 72
GRID = (0.0091, -0.0090)


# ------------------------------------------------------------------ helpers


def write_rows(path, rows, header=HEADER):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def set_wkt(path, line: int, wkt: str) -> tuple[str, str]:
    """Replace the WKT of data line ``line`` (2 = first); returns its (ImageId, ClassType)."""
    rows = read_rows(path)
    rows[line - 1][2] = wkt
    write_rows(path, rows[1:], rows[0])
    return rows[line - 1][0], rows[line - 1][1]


def run(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return rc, err


def assert_error(rc, err, *parts):
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("dstl-hpc "), err
    for part in parts:
        assert str(part) in err, (part, err)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# ------------------------------------------------------------ 1. duplicates


def test_exact_duplicate_wkt_row_is_dropped_with_a_warning(data, caplog):
    before = dataset.read_wkt_csv(data.train_wkt)
    rows = read_rows(data.train_wkt)
    write_rows(data.train_wkt, rows[1:] + [rows[1]])
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.sources.dstl"):
        after = dataset.read_wkt_csv(data.train_wkt)
    assert after == before
    n = len(rows) + 1
    msg = f"{data.train_wkt}, lines 2 and {n}: image {rows[1][0]} class {rows[1][1]} listed twice"
    assert any(w.startswith(msg) and "same WKT" in w for w in warnings(caplog))


def test_duplicate_wkt_row_with_other_wkt_is_an_error(data, tmp_path, capsys):
    rows = read_rows(data.train_wkt)
    image_id, ct = rows[1][0], rows[1][1]
    write_rows(data.train_wkt, rows[1:] + [[image_id, ct, "MULTIPOLYGON EMPTY"]])
    out = tmp_path / "masks" / f"{image_id}.h5"
    rc, err = run(capsys, "masks", data.root, image_id, out)
    n = len(rows) + 1
    assert_error(
        rc, err, f"{data.train_wkt}, lines 2 and {n}: image {image_id} class {ct} listed twice"
    )
    assert "different WKT" in err
    assert not out.exists()


# --------------------------------------------------- 2. NaN / inf coordinates


@pytest.mark.parametrize("bad", [NAN_WKT, INF_WKT])
def test_non_finite_coordinates_in_training_polygons(data, tmp_path, capsys, bad):
    image_id, ct = set_wkt(data.train_wkt, 3, bad)
    out = tmp_path / "m.h5"
    rc, err = run(capsys, "masks", data.root, image_id, out)
    where = f"{data.train_wkt}, line 3, image {image_id}, class {ct}"
    assert_error(rc, err, f"{where}: non-finite coordinates")
    assert not out.exists()


@pytest.mark.parametrize("bad", [NAN_WKT, INF_WKT])
def test_non_finite_coordinates_in_predictions_and_submissions(tmp_path, capsys, bad):
    truth = write_rows(tmp_path / "truth.csv", [("A", 1, SQ.format(0, 0, 2, 2))])
    pred = write_rows(tmp_path / "pred.csv", [("A", 2, "MULTIPOLYGON EMPTY"), ("A", 1, bad)])
    out = tmp_path / "scores.json"
    rc, err = run(capsys, "score", truth, pred, "--json", out)
    assert_error(rc, err, f"{pred}, line 3, image A, class 1: non-finite coordinates")
    assert not out.exists()
    sub = tmp_path / "sub.csv"
    rc, err = run(capsys, "merge", sub, pred, "--sample", truth)
    assert_error(rc, err, f"{pred}, line 3, image A, class 1: non-finite coordinates")
    assert not sub.exists()


# ------------------------------------------------- 3. self-intersections


def make_mask_dir(tmp_path, wkt: str):
    root = tmp_path / "data"
    (root / "three_band").mkdir(parents=True)
    tifffile.imwrite(
        root / "three_band" / "img.tif", np.zeros((3, H, W), np.uint16), photometric="minisblack"
    )
    write_rows(root / "grid_sizes.csv", [("img", *GRID)], ["", "Xmax", "Ymin"])
    write_rows(root / "train_wkt_v4.csv", [("img", 4, wkt)])
    return root


def test_bowtie_keeps_both_triangles_in_the_mask(tmp_path, caplog):
    # pixel coords, off the pixel centres: two triangles of 25 px^2 meeting at (15.25, 15)
    bowtie = Polygon([(10.25, 10), (20.25, 20), (20.25, 10), (10.25, 20), (10.25, 10)])
    root = make_mask_dir(tmp_path, dataset.pixels_to_grid(bowtie, W, H, *GRID).wkt)
    out = tmp_path / "img.h5"
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.prepare.masks"):
        assert main(["masks", str(root), "img", str(out)]) == 0
    plane = read_mask(out, [4])[0]
    left, right = int(plane[:, :15].sum()), int(plane[:, 15:].sum())
    assert left > 0 and right > 0
    assert left + right == pytest.approx(50, abs=2)
    assert plane.sum() == plane[10:20, 10:21].sum()
    msg = f"{root / 'train_wkt_v4.csv'}, image img, class 4: invalid polygon repaired"
    assert any(w.startswith(msg) for w in warnings(caplog)), warnings(caplog)


# ---------------------------------------------------------- 4. unparsable WKT


def sweep_case(tmp_path, truth_rows):
    u8 = np.zeros((1, H, W), np.uint8)
    u8[0, 16:48, 16:48] = 200
    pred = tmp_path / "I1.h5"
    write_prediction(pred, u8, "I1", [2])
    truth = write_rows(tmp_path / "truth.csv", truth_rows)
    grid = write_rows(tmp_path / "grid.csv", [("I1", *GRID)], ["", "Xmax", "Ymin"])
    return pred, truth, grid


@pytest.mark.parametrize("bad", [TYPO_WKT, CUT_WKT])
@pytest.mark.parametrize("command", ["merge", "score", "gather", "sweep"])
def test_unparsable_wkt_names_file_line_image_class(tmp_path, capsys, command, bad):
    good = SQ.format(0, 0, 1, 1)
    csv_in = write_rows(tmp_path / "in.csv", [("I1", 1, good), ("I1", 2, bad), ("I2", 1, good)])
    sample = write_rows(tmp_path / "sample.csv", [("I1", 1, good), ("I1", 2, good)])
    out = tmp_path / "out" / ("out.json" if command in ("score", "sweep") else "out.csv")
    if command == "merge":
        args = ["merge", out, csv_in, "--sample", sample]
    elif command == "score":
        args = ["score", sample, csv_in, "--json", out]
    elif command == "gather":
        args = ["gather", out, csv_in]
    else:
        pred, _, grid = sweep_case(tmp_path, [])
        args = ["sweep", out, "--class", 2, "--truth", csv_in, "--grid-sizes", grid]
        args += ["--predictions", pred]
    rc, err = run(capsys, *args)
    assert_error(rc, err, f"{csv_in}, line 3, image I1, class 2: unparsable WKT")
    assert not out.parent.exists()


def test_unparsable_training_polygon_names_the_line(data, tmp_path, capsys):
    image_id, ct = set_wkt(data.train_wkt, 4, TYPO_WKT)
    rc, err = run(capsys, "masks", data.root, image_id, tmp_path / "m.h5")
    where = f"{data.train_wkt}, line 4, image {image_id}, class {ct}"
    assert_error(rc, err, f"{where}: unparsable WKT")


# ----------------------------------------------------------- 5. grid_sizes


@pytest.mark.parametrize("xmax, ymin", [("nan", "-0.009"), ("inf", "-0.009"), ("0.009", "-inf")])
def test_non_finite_grid_size(data, tmp_path, capsys, xmax, ymin):
    rows = read_rows(data.grid_sizes)
    rows[2][1:] = [xmax, ymin]
    write_rows(data.grid_sizes, rows[1:], rows[0])
    image_id = rows[2][0]
    out = tmp_path / "m.h5"
    rc, err = run(capsys, "masks", data.root, image_id, out)
    assert_error(rc, err, f"{data.grid_sizes}, line 3: {image_id} has non-finite Xmax=")
    assert not out.exists()


def test_grid_size_listed_twice(data, caplog):
    rows = read_rows(data.grid_sizes)
    before = dataset.read_grid_sizes(data.grid_sizes)
    write_rows(data.grid_sizes, rows[1:] + [rows[1]], rows[0])
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.sources.dstl"):
        assert dataset.read_grid_sizes(data.grid_sizes) == before
    n = len(rows) + 1
    msg = f"{data.grid_sizes}, lines 2 and {n}: image {rows[1][0]} listed twice with the same"
    assert any(w.startswith(msg) for w in warnings(caplog)), warnings(caplog)

    other = [rows[1][0], "0.0091", rows[1][2]]
    write_rows(data.grid_sizes, rows[1:] + [other], rows[0])
    with pytest.raises(DstlError) as err:
        dataset.read_grid_sizes(data.grid_sizes)
    assert str(err.value) == (
        f"{data.grid_sizes}, lines 2 and {n}: image {rows[1][0]} listed twice "
        "with different Xmax/Ymin"
    )


# --------------------------------------------------------------- 6. images


def write_band(layout, image_id, band, arr):
    path = layout.sixteen_band(image_id, band)
    kwargs = {"planarconfig": "separate"} if arr.ndim == 3 else {}
    tifffile.imwrite(path, arr, photometric="minisblack", **kwargs)
    return path


@pytest.mark.parametrize(
    "band, shape, problem",
    [
        ("A", (8, 4, 8), "A band of 4 x 8 px does not have the aspect ratio of"),
        ("M", (8, 24, 48), "M band of 24 x 48 px does not have the aspect ratio of"),
        ("P", (48, 48), "P band of 48 x 48 px is not the size of"),
    ],
)
def test_band_of_the_wrong_shape(data, tmp_path, capsys, band, shape, problem):
    image_id = "6010_0_0"
    path = write_band(data, image_id, band, np.full(shape, 1000, np.uint16))
    out = tmp_path / "stacks" / f"{image_id}.h5"
    rc, err = run(capsys, "align", data.root, image_id, out, "--threads", 1)
    assert_error(rc, err, f"{path}: {problem} {data.three_band(image_id)} (96 x 96 px)")
    assert not out.parent.exists()


@pytest.mark.parametrize(
    "rgb, band, shape",
    [
        ((3348, 3392), "A", (134, 137)),  # scale factors 24.98 and 24.76
        ((3348, 3392), "M", (837, 848)),
        ((3348, 3392), "P", (3345, 3391)),
        ((3348, 3403), "A", (134, 136)),
        ((96, 96), "A", (4, 4)),
        ((160, 160), "A", (7, 7)),
        ((160, 160), "A", (6, 7)),
        ((64, 200), "A", (3, 8)),
        ((768, 768), "P", (763, 771)),
    ],
)
def test_band_size_rounding_is_accepted(rgb, band, shape):
    assert band_shape_problem(band, shape, rgb) is None


@pytest.mark.parametrize(
    "rgb, band, shape",
    [
        ((3348, 3392), "A", (134, 274)),
        ((3348, 3392), "M", (837, 1000)),
        ((768, 768), "P", (384, 384)),
    ],
)
def test_stretched_band_is_refused(rgb, band, shape):
    assert band_shape_problem(band, shape, rgb)


def test_nan_in_a_float_band(data, tmp_path, capsys):
    image_id = "6010_0_0"
    m = dataset.read_band(data, image_id, "M").astype(np.float32)
    m[2, :2, :3] = np.nan
    m[5, 7, 7] = np.inf
    path = write_band(data, image_id, "M", m)
    out = tmp_path / "s.h5"
    rc, err = run(capsys, "align", data.root, image_id, out, "--threads", 1)
    assert_error(rc, err, f"{path}: 7 NaN/inf pixel(s) of {m.size}")
    assert not out.exists()
    rgb, p, a = (
        dataset.read_rgb(data, image_id),
        *(dataset.read_band(data, image_id, b) for b in "PA"),
    )
    with pytest.raises(DstlError, match=r"image 6010_0_0: M has 7 NaN/inf pixel\(s\)"):
        align_image(rgb, p, m, a, image_id)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_unexpected_dtype_is_a_warning(data, tmp_path, caplog, dtype):
    image_id = "6010_0_0"
    m = dataset.read_band(data, image_id, "M")
    path = write_band(data, image_id, "M", (m // 256 + 1).astype(dtype))
    out = tmp_path / "s.h5"
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.sources.dstl"):
        assert main(["align", str(data.root), image_id, str(out), "--threads", "1"]) == 0
    name = np.dtype(dtype).name
    assert f"{path}: dtype {name}, expected uint16; read as it is" in warnings(caplog)
    assert out.exists()


# ----------------------------------------------------------------- 7. gzip


def gzip_copy(path):
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    return gz


def test_score_reads_a_gzipped_submission(data, tmp_path, capsys):
    from shapely import affinity

    rows = read_rows(data.train_wkt)[1:]
    shrunk = [
        (i, k, affinity.scale(dataset.parse_wkt(w), 0.9, 0.9, origin=(0, 0)).wkt)
        for i, k, w in rows
    ]
    sub = write_rows(tmp_path / "sub.csv", shrunk)
    scores = {}
    for name, pred in (("plain", sub), ("gz", gzip_copy(sub))):
        out = tmp_path / f"{name}.json"
        rc, err = run(capsys, "score", data.train_wkt, pred, "--json", out)
        assert rc == 0, err
        scores[name] = json.loads(out.read_text())
    assert scores["gz"] == scores["plain"]
    assert 0 < scores["plain"]["mean"] < 1
    assert dataset.read_ids(gzip_copy(data.train_wkt)) == ["6010_0_0", "6010_0_1"]


def test_merge_reads_gzipped_inputs(tmp_path, capsys):
    a, b = SQ.format(0, 0, 1, 1), SQ.format(2, 2, 3, 3)
    sample = gzip_copy(write_rows(tmp_path / "sample.csv", [("T1", 1, ""), ("T1", 2, "")]))
    polys = write_rows(tmp_path / "in.csv.gz", [("T1", 1, a), ("T1", 2, b)])
    out = tmp_path / "sub.csv.gz"
    rc, err = run(capsys, "merge", out, polys, "--sample", sample)
    assert rc == 0, err
    with gzip.open(out, "rt", newline="") as fh:
        assert list(csv.reader(fh)) == [HEADER, ["T1", "1", a], ["T1", "2", b]]


def test_corrupt_gzip(tmp_path, capsys):
    gz = gzip_copy(write_rows(tmp_path / "p.csv", [("A", 1, SQ.format(0, 0, 1, 1))]))
    gz.write_bytes(gz.read_bytes()[:-12])
    rc, err = run(capsys, "score", gz, gz)
    assert_error(rc, err, f"{gz}: corrupt gzip file")


# ------------------------------------------------------------- 8. not text


def test_hdf5_given_as_csv(tmp_path, capsys):
    h5 = tmp_path / "pred.h5"
    write_prediction(h5, np.zeros((1, 8, 8), np.uint8), "A", [1])
    truth = write_rows(tmp_path / "truth.csv", [("A", 1, SQ.format(0, 0, 1, 1))])
    out = tmp_path / "scores.json"
    rc, err = run(capsys, "score", truth, h5, "--json", out)
    assert_error(rc, err, f"{h5}: not a CSV text file")
    assert not out.exists()


def test_latin1_csv(tmp_path, capsys):
    bad = tmp_path / "grid_sizes.csv"
    bad.write_bytes(",Xmax,Ymin\nimg\xe9,0.009,-0.009\n".encode("latin-1"))
    with pytest.raises(DstlError) as err:
        dataset.read_grid_sizes(bad)
    assert str(err.value) == f"{bad}: not a CSV text file (not UTF-8 text)"


def test_gather_of_a_binary_piece(tmp_path, capsys):
    piece = tmp_path / "piece.csv"
    piece.write_bytes(b"ImageId,ClassType,MultipolygonWKT\n\x00\x01\x02")
    out = tmp_path / "all.csv"
    rc, err = run(capsys, "gather", out, piece)
    assert_error(rc, err, f"{piece}: not a CSV text file (binary data)")
    assert not out.exists()


def test_masks_with_a_good_file_still_work(data, tmp_path):
    out = tmp_path / "m.h5"
    assert main(["masks", str(data.root), "6010_0_0", str(out)]) == 0
    assert read_mask(out).sum() > 0
