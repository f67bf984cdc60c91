import json

import h5py
import numpy as np
import pytest
import tifffile
from shapely.geometry import MultiPolygon, Point, Polygon, box

from dstl_hpc.cli import main
from dstl_hpc.prepare.masks import polygons_to_mask
from dstl_hpc.prepare.stacks import read_mask
from dstl_hpc.sources import dstl as dataset

H, W = 120, 100
GRID = (0.0090, -0.0091)


def to_grid(geom):
    return dataset.pixels_to_grid(geom, W, H, *GRID)


def make_data_dir(tmp_path, wkt_rows, grid_rows=None):
    root = tmp_path / "data"
    (root / "three_band").mkdir(parents=True)
    tifffile.imwrite(
        root / "three_band" / "img.tif", np.zeros((3, H, W), np.uint16), photometric="minisblack"
    )
    grid_rows = grid_rows if grid_rows is not None else [("img", *GRID)]
    (root / "grid_sizes.csv").write_text(
        ",Xmax,Ymin\n" + "".join(f"{i},{x},{y}\n" for i, x, y in grid_rows)
    )
    lines = ["ImageId,ClassType,MultipolygonWKT"]
    lines += [f'{i},{k},"{w}"' for i, k, w in wkt_rows]
    (root / "train_wkt_v4.csv").write_text("\n".join(lines) + "\n")
    return root


def test_mask_area_agrees_with_shapely_areas_holes_included():
    building = Polygon(box(10, 10, 70, 60).exterior, [box(30, 25, 50, 45).exterior])
    pond = Point(60, 90).buffer(18)
    polys = {1: MultiPolygon([to_grid(building)]), 8: MultiPolygon([to_grid(pond)])}
    mask = polygons_to_mask(polys, (H, W), GRID)
    assert mask.shape == (10, H, W) and mask.dtype == np.uint8
    # Scaling to pixels and back loses nothing; the rasteriser samples pixel centres.
    assert mask[0].sum() == pytest.approx(building.area, abs=1)
    assert abs(int(mask[7].sum()) - pond.area) < 0.02 * pond.area
    assert mask[0, 35, 40] == 0  # inside the courtyard
    assert mask[1:7].sum() == 0 and mask[8:].sum() == 0


def test_pre_buffer_grows_only_its_class():
    shed = MultiPolygon([to_grid(box(20, 20, 30, 26))])
    plain = polygons_to_mask({2: shed}, (H, W), GRID)
    grown = polygons_to_mask({2: shed}, (H, W), GRID, pre_buffer={2: 0.5})
    assert plain[1].sum() == 60
    assert grown[1].sum() == 11 * 7  # half a pixel all round: one more row and column
    assert polygons_to_mask({1: shed}, (H, W), GRID, pre_buffer={2: 0.5})[0].sum() == 60


def test_masks_cli_writes_hdf5(tmp_path):
    wkt = to_grid(box(10, 10, 30, 20)).wkt
    root = make_data_dir(tmp_path, [("img", 1, wkt), ("img", 2, "MULTIPOLYGON EMPTY")])
    out = tmp_path / "out" / "img.h5"
    assert main(["masks", str(root), "img", str(out), "--pre-buffer", "2=0.5"]) == 0
    mask = read_mask(out)
    assert mask[0].sum() == 200
    with h5py.File(out) as h5:
        assert json.loads(h5.attrs["pre_buffer"]) == {"2": 0.5}
        assert list(h5.attrs["classes"]) == list(range(1, 11))


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_grid", "grid_sizes.csv: image img is missing"),
        ("bad_wkt", "image img, class 1: unparsable WKT"),
        ("missing_image", "no polygons for image img"),
    ],
)
def test_masks_bad_input_is_one_clear_line_and_no_output(tmp_path, capsys, case, message):
    good = to_grid(box(10, 10, 30, 20)).wkt
    if case == "missing_grid":
        root = make_data_dir(tmp_path, [("img", 1, good)], grid_rows=[("other", *GRID)])
    elif case == "bad_wkt":
        root = make_data_dir(tmp_path, [("img", 1, "MULTIPOLYGON (((1 2, 3")])
    else:
        root = make_data_dir(tmp_path, [("other", 1, good)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["masks", str(root), "img", str(out_dir / "img.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(out_dir.iterdir()) == []


def test_pre_buffer_argument_errors(tmp_path, capsys):
    assert main(["masks", str(tmp_path), "img", str(tmp_path / "o.h5"), "--pre-buffer", "x"]) == 2
    assert "expected CLASS=PIXELS" in capsys.readouterr().err
