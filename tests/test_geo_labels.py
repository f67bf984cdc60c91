"""Vector labels of the geo source: reading, class mapping, repairs, errors, reprojection
to a scene and rasterisation of a window."""

import logging

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from rasterio.transform import from_origin
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform
from shapely.geometry import LineString, Point, Polygon, box

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.labels import (
    known_window,
    rasterize_window,
    read_area,
    read_labels,
)

UTM = "EPSG:32632"
# a 100 x 100 px scene of 10 m pixels in UTM 32N
SCENE_TF = from_origin(500000.0, 5000000.0, 10.0, 10.0)
SCENE_SHAPE = (100, 100)
SCENE_BOUNDS = window_bounds(Window(0, 0, 100, 100), SCENE_TF)  # left, bottom, right, top


def pixel_box(r0, c0, r1, c1):
    """UTM polygon covering pixels rows r0..r1-1, cols c0..c1-1 of the scene exactly."""
    x0, y0 = SCENE_TF @ (c0, r0)
    x1, y1 = SCENE_TF @ (c1, r1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def write(tmp_path, name, geoms, crs, driver=None, **fields):
    path = tmp_path / name
    gdf = gpd.GeoDataFrame(fields, geometry=list(geoms), crs=crs)
    gdf.to_file(path, driver=driver)
    return path


def test_polygon_in_4326_lands_on_the_right_pixels_of_a_utm_scene(tmp_path):
    building = pixel_box(10, 20, 20, 35)  # rows 10..19, cols 20..34
    road = pixel_box(50, 0, 53, 100)
    gdf = gpd.GeoDataFrame(
        {"kind": ["house", "street"]}, geometry=[building, road], crs=UTM
    ).to_crs("EPSG:4326")
    path = tmp_path / "labels.gpkg"
    gdf.to_file(path)

    labels = read_labels(
        [path], "kind", {"buildings": ["house"], "roads": ["street"]}, ["buildings", "roads"]
    )
    assert labels.frames[0][1].crs.to_epsg() == 4326  # kept in its own CRS
    assert labels.scene_overlaps(UTM, SCENE_BOUNDS)
    geoms = labels.for_scene(UTM, SCENE_BOUNDS)
    assert len(geoms) == 2
    assert geoms[0].area == pytest.approx(100 * 150, rel=1e-9)

    # a window (row_off 5, col_off 10, height 50, width 40) of the scene grid
    row_off, col_off, h, w = 5, 10, 50, 40
    tf = window_transform(Window(col_off, row_off, w, h), SCENE_TF)
    masks = rasterize_window(geoms, tf, (h, w))
    expected = np.zeros((2, h, w), np.uint8)
    expected[0, 10 - row_off : 20 - row_off, 20 - col_off : 35 - col_off] = 1
    expected[1, 50 - row_off : 53 - row_off, :] = 1
    assert masks.dtype == np.uint8 and masks.shape == (2, h, w)
    np.testing.assert_array_equal(masks, expected)


def test_labels_are_clipped_to_the_scene_and_missing_scenes_do_not_overlap(tmp_path):
    path = write(tmp_path, "l.geojson", [pixel_box(-10, -10, 10, 10)], UTM, cls=["a"])
    labels = read_labels(path, "cls", None, ["a"])  # a class matches its own name
    (geom,) = labels.for_scene(UTM, SCENE_BOUNDS)
    assert geom.bounds == (500000.0, 4999900.0, 500100.0, 5000000.0)
    far = (600000.0, 4000000.0, 601000.0, 4001000.0)
    assert not labels.scene_overlaps(UTM, far)
    assert labels.for_scene(UTM, far)[0].is_empty


def test_integer_field_values_and_unmapped_values_are_logged_with_counts(tmp_path, caplog):
    geoms = [pixel_box(i, i, i + 1, i + 1) for i in range(6)]
    path = write(tmp_path, "l.gpkg", geoms, UTM, code=[1, 1, 2, 7, 7, 9])
    with caplog.at_level(logging.WARNING):
        labels = read_labels(path, "code", {"a": [1], "b": ["2"]}, ["a", "b"])
    assert labels.counts() == {"a": 2, "b": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "3 feature(s) ignored" in warnings[0]
    assert "7 2" in warnings[0] and "9 1" in warnings[0]


def test_bow_tie_is_repaired_and_counted(tmp_path, caplog):
    x0, y0 = 500100.0, 4999500.0
    bow = Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100)])
    assert not bow.is_valid
    path = write(tmp_path, "l.gpkg", [bow, pixel_box(0, 0, 2, 2)], UTM, c=["a", "a"])
    with caplog.at_level(logging.WARNING):
        labels = read_labels(path, "c", None, ["a"])
    assert any("1 invalid geometry repaired" in r.getMessage() for r in caplog.records)
    geom = labels.for_scene(UTM, SCENE_BOUNDS)[0]
    assert geom.is_valid
    # two triangles of 100 x 50 / 2 each, plus the 20 m x 20 m square
    assert geom.area == pytest.approx(5000 + 400)


def test_points_and_lines_are_dropped_with_a_count(tmp_path, caplog):
    geoms = [pixel_box(0, 0, 1, 1), Point(500005, 4999995), LineString([(500000, 4999990),
             (500100, 4999990)])]  # fmt: skip
    path = write(tmp_path, "l.gpkg", geoms, UTM, c=["a", "a", "a"])
    with caplog.at_level(logging.WARNING):
        labels = read_labels(path, "c", None, ["a"])
    assert labels.counts() == {"a": 1}
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "2 non-polygonal feature(s) dropped" in msg and "Point 1" in msg


def test_layer_is_chosen_with_double_colon(tmp_path):
    path = tmp_path / "two.gpkg"
    gpd.GeoDataFrame({"c": ["a"]}, geometry=[pixel_box(0, 0, 1, 1)], crs=UTM).to_file(
        path, layer="first"
    )
    gpd.GeoDataFrame({"c": ["a", "a"]}, geometry=[pixel_box(0, 0, 1, 1)] * 2, crs=UTM).to_file(
        path, layer="second"
    )
    assert read_labels(f"{path}::second", "c", None, ["a"]).counts() == {"a": 2}
    with pytest.raises(DstlError, match="no layer 'third'"):
        read_labels(f"{path}::third", "c", None, ["a"])


def test_multiple_files_in_different_crss(tmp_path):
    a = write(tmp_path, "a.gpkg", [pixel_box(0, 0, 10, 10)], UTM, c=["a"])
    b_geom = gpd.GeoSeries([pixel_box(20, 20, 30, 30)], crs=UTM).to_crs("EPSG:3857")
    b = write(tmp_path, "b.geojson", b_geom, "EPSG:3857", c=["b"])
    labels = read_labels([a, b], "c", None, ["a", "b"])
    ga, gb = labels.for_scene(UTM, SCENE_BOUNDS)
    masks = rasterize_window([ga, gb], SCENE_TF, SCENE_SHAPE)
    assert masks[0].sum() == 100 and masks[0, :10, :10].all()
    assert masks[1].sum() == 100 and masks[1, 20:30, 20:30].all()


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.gpkg"
    with pytest.raises(DstlError, match="nope.gpkg: label file not found"):
        read_labels(path, "c", None, ["a"])


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.gpkg"
    path.write_bytes(b"this is not a vector file")
    with pytest.raises(DstlError, match=r"junk.gpkg: cannot read label file"):
        read_labels(path, "c", None, ["a"])


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gpkg"
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"c": np.array([], object)}, geometry=gpd.GeoSeries([], crs=UTM)),
        path,
        geometry_type="Polygon",
    )
    with pytest.raises(DstlError, match="empty.gpkg: label file has no features"):
        read_labels(path, "c", None, ["a"])


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs(tmp_path):
    # a Shapefile without .prj (GeoJSON has no such case: it is WGS 84 by definition)
    path = write(tmp_path, "nocrs.shp", [box(0, 0, 1, 1)], None, c=["a"])
    with pytest.raises(DstlError, match="nocrs.shp: label file has no CRS"):
        read_labels(path, "c", None, ["a"])


def test_missing_class_field_lists_the_fields(tmp_path):
    path = write(tmp_path, "f.gpkg", [pixel_box(0, 0, 1, 1)], UTM, kind=["a"], id=[3])
    with pytest.raises(DstlError, match=r"f.gpkg: no field 'class' \(fields: kind, id\)"):
        read_labels(path, "class", None, ["a"])


def test_no_feature_maps_to_a_class(tmp_path):
    path = write(tmp_path, "n.gpkg", [pixel_box(0, 0, 1, 1)] * 2, UTM, c=["x", "y"])
    with pytest.raises(DstlError, match=r"n.gpkg: no feature's 'c' maps to a class"):
        read_labels(path, "c", {"a": ["z"]}, ["a"])


def test_class_map_naming_an_unknown_class():
    with pytest.raises(DstlError, match="class_map: 'b' not among the classes"):
        read_labels("any.gpkg", "c", {"b": ["x"]}, ["a"])


# ------------------------------------------------------------------------ area, known


def test_area_and_known_window(tmp_path):
    area_4326 = gpd.GeoSeries([pixel_box(0, 0, 50, 100)], crs=UTM).to_crs("EPSG:4326")
    path = write(tmp_path, "area.gpkg", area_4326, "EPSG:4326")
    area = read_area([path])
    geom = area.for_scene(UTM, SCENE_BOUNDS)
    valid = np.ones(SCENE_SHAPE, bool)
    valid[:, :10] = False
    known = known_window(geom, valid, SCENE_TF)
    expected = np.zeros(SCENE_SHAPE, np.uint8)
    expected[:50, 10:] = 1
    np.testing.assert_array_equal(known, expected)
    # no area file: labels complete everywhere
    assert read_area(None).for_scene(UTM, SCENE_BOUNDS) is None
    np.testing.assert_array_equal(known_window(None, valid, SCENE_TF), valid.astype(np.uint8))
    # an area that misses the scene: known nowhere
    far = (600000.0, 4000000.0, 601000.0, 4001000.0)
    far_geom = area.for_scene(UTM, far)
    assert far_geom.is_empty
    assert not known_window(far_geom, np.ones((5, 5), bool), SCENE_TF).any()
