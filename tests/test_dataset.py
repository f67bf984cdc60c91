import numpy as np
import pytest
import tifffile
from shapely.geometry import MultiPolygon, Polygon, box

from dstl_hpc.errors import DstlError
from dstl_hpc.sources import dstl as dataset
from dstl_hpc.sources.dstl import Layout


def write_csv(path, header, rows):
    path.write_text("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")


def test_scalers_match_the_competition_formula():
    fx, fy = dataset.scalers(3391, 3348, 0.00918, -0.00904)
    assert fx == pytest.approx(3391 * 3391 / 3392 / 0.00918)
    assert fy == pytest.approx(3348 * 3348 / 3349 / -0.00904)
    assert fy > 0 or fy < 0  # sign follows Ymin
    # A grid point on the far corner lands just inside the last pixel.
    assert 0.00918 * fx == pytest.approx(3391 - 1 + 1 / 3392)


def test_grid_pixel_round_trip_keeps_polygons_with_holes():
    poly = Polygon(
        [(0.001, -0.001), (0.008, -0.001), (0.008, -0.008), (0.001, -0.008)],
        [[(0.003, -0.003), (0.005, -0.003), (0.005, -0.005), (0.003, -0.005)]],
    )
    geom = MultiPolygon([poly])
    px = dataset.grid_to_pixels(geom, 3391, 3348, 0.00918, -0.00904)
    assert px.bounds[0] > 0 and px.bounds[1] > 0  # pixel y positive
    back = dataset.pixels_to_grid(px, 3391, 3348, 0.00918, -0.00904)
    assert back.symmetric_difference(geom).area < 1e-15
    assert back.area == pytest.approx(geom.area, rel=1e-12)


def test_read_grid_sizes_accepts_the_competition_header(tmp_path):
    p = tmp_path / "grid_sizes.csv"
    write_csv(p, ",Xmax,Ymin", [("6120_2_4", 0.00918, -0.00904)])
    assert dataset.read_grid_sizes(p) == {"6120_2_4": (0.00918, -0.00904)}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a", "x", -0.009)], "not numbers"),
        ([("a", 0.009, 0.009)], "Ymin < 0"),
        ([("a", 0.009)], "expected 3 fields"),
    ],
)
def test_read_grid_sizes_errors_name_the_file_and_line(tmp_path, rows, message):
    p = tmp_path / "grid_sizes.csv"
    write_csv(p, ",Xmax,Ymin", rows)
    with pytest.raises(DstlError, match=message) as err:
        dataset.read_grid_sizes(p)
    assert str(p) in str(err.value) and "line 2" in str(err.value)


def test_wkt_csv_and_parse(tmp_path):
    p = tmp_path / "train_wkt_v4.csv"
    wkt = box(0, -0.002, 0.002, 0).wkt
    p.write_text(f'ImageId,ClassType,MultipolygonWKT\nimg,1,"{wkt}"\nimg,2,MULTIPOLYGON EMPTY\n')
    polys = dataset.image_polygons(p, "img")
    assert polys[1].area == pytest.approx(4e-6)
    assert isinstance(polys[1], MultiPolygon)
    assert polys[2].is_empty
    assert dataset.read_ids(p) == ["img"]


def test_unparsable_wkt_names_file_image_and_class(tmp_path):
    p = tmp_path / "train_wkt_v4.csv"
    p.write_text('ImageId,ClassType,MultipolygonWKT\nimg,3,"MULTIPOLYGON (((0 0, 1"\n')
    with pytest.raises(
        DstlError, match=r"train_wkt_v4.csv, line 2, image img, class 3: unparsable WKT"
    ):
        dataset.image_polygons(p, "img")


def test_bad_class_type(tmp_path):
    p = tmp_path / "train_wkt_v4.csv"
    p.write_text("ImageId,ClassType,MultipolygonWKT\nimg,11,MULTIPOLYGON EMPTY\n")
    with pytest.raises(DstlError, match="ClassType 11 is not in 1..10"):
        dataset.read_wkt_csv(p)


def test_readers_check_shapes(tmp_path):
    layout = Layout(tmp_path)
    (tmp_path / "three_band").mkdir()
    (tmp_path / "sixteen_band").mkdir()
    tifffile.imwrite(
        layout.three_band("x"), np.zeros((3, 40, 44), np.uint16), photometric="minisblack"
    )
    tifffile.imwrite(layout.sixteen_band("x", "P"), np.zeros((40, 44), np.uint16))
    tifffile.imwrite(
        layout.sixteen_band("x", "M"), np.zeros((3, 10, 11), np.uint16), photometric="minisblack"
    )
    assert dataset.read_rgb(layout, "x").shape == (3, 40, 44)
    assert dataset.read_band(layout, "x", "P").shape == (40, 44)
    assert dataset.image_size(layout, "x") == (40, 44)
    with pytest.raises(DstlError, match=r"x_M.tif: shape \(3, 10, 11\), expected 8 x H x W"):
        dataset.read_band(layout, "x", "M")
    with pytest.raises(DstlError, match=r"x_A.tif: file not found"):
        dataset.read_band(layout, "x", "A")


def test_truncated_tiff_is_a_clear_error(tmp_path):
    layout = Layout(tmp_path)
    (tmp_path / "three_band").mkdir()
    path = layout.three_band("x")
    tifffile.imwrite(
        path, np.arange(3 * 64 * 64, dtype=np.uint16).reshape(3, 64, 64), photometric="minisblack"
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DstlError, match=r"x.tif: cannot read TIFF"):
        dataset.read_rgb(layout, "x")


def test_synthetic_ids_are_unique_and_split():
    train, test = dataset.synthetic_ids(60, 25)
    assert len(set(train + test)) == 60 and len(train) == 25
    with pytest.raises(DstlError):
        dataset.synthetic_ids(5, 5)
