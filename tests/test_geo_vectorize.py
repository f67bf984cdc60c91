"""Probability maps -> polygons (block by block, whole across blocks) -> GIS layers."""

import cv2
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from pyproj import Proj
from rasterio.transform import from_origin
from shapely.geometry import box

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.vectorize import (
    Record,
    merge_polygons,
    records_for,
    trace_probability,
    write_polygons,
)

UTM = "EPSG:32632"
TF = from_origin(500000.0, 5000000.0, 2.0, 2.0)  # 2 m pixels


def reader(prob, valid=None):
    """read_window over in-memory arrays, recording the windows asked for."""
    valid = np.ones(prob.shape[1:], bool) if valid is None else valid
    asked = []

    def read_window(window):
        r, c, h, w = window
        asked.append(window)
        return prob[:, r : r + h, c : c + w], valid[r : r + h, c : c + w]

    read_window.asked = asked
    return read_window


def test_square_crossing_block_borders_comes_out_whole():
    prob = np.zeros((2, 20, 20), np.float32)
    prob[1, 5:13, 6:14] = 0.6  # rows 5..12, cols 6..13: crosses the borders at 8 (and 16: no)
    prob[1, 5:9, 6:10] = 0.9
    read = reader(prob)
    out = trace_probability(read, (20, 20), TF, 1, 0.5, block=8)
    assert len(read.asked) == 9 and max(w[2] for w in read.asked) == 8
    assert len(out) == 1
    geom, psum, count = out[0]
    assert geom.geom_type == "Polygon" and geom.is_valid
    assert count == 64
    assert geom.area == pytest.approx(64 * 4.0)  # 2 m pixels
    assert psum / count == pytest.approx((16 * 0.9 + 48 * 0.6) / 64, rel=1e-6)
    x0, y0 = TF @ (6, 13)
    x1, y1 = TF @ (14, 5)
    assert geom.bounds == pytest.approx((x0, y0, x1, y1))
    assert geom.equals(box(x0, y0, x1, y1))


def test_blocks_give_the_same_polygons_as_one_pass():
    rng = np.random.default_rng(3)
    noise = rng.random((61, 53)).astype(np.float32)
    # smooth blobs: many regions crossing block borders, some with holes
    prob = cv2.blur(noise, (5, 5))[None]
    valid = rng.random((61, 53)) > 0.02
    whole = trace_probability(reader(prob, valid), (61, 53), TF, 0, 0.5, block=4096)
    blocks = trace_probability(reader(prob, valid), (61, 53), TF, 0, 0.5, block=7)
    assert len(whole) > 10

    def key(items):
        return sorted((round(g.area, 6), n, round(s, 3)) for g, s, n in items)

    assert key(blocks) == key(whole)
    assert all(g.geom_type == "Polygon" and g.is_valid for g, _, _ in blocks)
    union_whole = gpd.GeoSeries([g for g, _, _ in whole]).union_all()
    union_blocks = gpd.GeoSeries([g for g, _, _ in blocks]).union_all()
    assert union_whole.symmetric_difference(union_blocks).area == pytest.approx(0.0)


def test_region_joined_through_another_block_and_hole_on_a_border():
    prob = np.zeros((1, 12, 12), np.float32)
    # a U: two arms in the top-left block joined only through the bottom-left block
    prob[0, 0:6, 0] = prob[0, 0:6, 4] = 1.0
    prob[0, 6, 0:5] = 1.0
    # a ring whose hole straddles the border at column 6
    prob[0, 8:12, 5:9] = 1.0
    prob[0, 9:11, 6] = 0.0
    out = trace_probability(reader(prob), (12, 12), TF, 0, 0.5, block=6)
    assert len(out) == 2
    counts = sorted(n for _, _, n in out)
    assert counts == [14, 17]
    ring = next(g for g, _, n in out if n == 14)
    assert len(ring.interiors) == 1 and ring.area == pytest.approx(14 * 4.0)


def test_threshold_valid_min_area_and_simplify():
    prob = np.zeros((1, 30, 30), np.float32)
    prob[0, 2:4, 2:4] = 0.7  # 4 px
    prob[0, 10:25, 10:25] = 0.7  # 225 px
    prob[0, 10, 10] = 0.4  # below threshold: a notch
    valid = np.ones((30, 30), bool)
    valid[24, 10:25] = False  # one row not valid
    out = trace_probability(reader(prob, valid), (30, 30), TF, 0, 0.5, min_area_px=5, block=16)
    assert [n for _, _, n in out] == [225 - 1 - 15]
    assert out[0][0].area == pytest.approx(209 * 4.0)
    simple = trace_probability(
        reader(prob, valid), (30, 30), TF, 0, 0.5, min_area_px=5, simplify_px=1.5, block=16
    )
    assert len(simple[0][0].exterior.coords) < len(out[0][0].exterior.coords)
    assert simple[0][0].is_valid
    assert trace_probability(reader(prob), (30, 30), TF, 0, 0.95) == []


def square_records(scene="s1"):
    square = box(500100.0, 4999700.0, 500200.0, 4999800.0)  # 100 m x 100 m in UTM
    return [Record(square, 2, "trees", scene, 0.75)]


def test_gpkg_round_trip_crs_attributes_and_area(tmp_path):
    out = tmp_path / "s1.gpkg"
    assert write_polygons(out, square_records(), UTM) == 1
    assert pyogrio.list_layers(out).tolist() == [["polygons", "Polygon"]]
    gdf = gpd.read_file(out)
    assert gdf.crs.to_epsg() == 32632
    row = gdf.iloc[0]
    assert (row.class_id, row.class_name, row.scene_id) == (2, "trees", "s1")
    assert row.mean_prob == pytest.approx(0.75)
    assert row.area_m2 == pytest.approx(10000.0)
    assert gdf.geometry.iloc[0].area == pytest.approx(10000.0)
    assert [p.name for p in tmp_path.iterdir()] == ["s1.gpkg"]  # no temporary left

    # reprojected output: the geometry comes back in 4326, area_m2 still the square's
    out4326 = tmp_path / "s1_4326.gpkg"
    write_polygons(out4326, square_records(), UTM, out_crs="EPSG:4326")
    g4326 = gpd.read_file(out4326)
    assert g4326.crs.to_epsg() == 4326
    assert g4326.area_m2.iloc[0] == pytest.approx(10000.0)
    back = g4326.to_crs(UTM).geometry.iloc[0]
    assert back.symmetric_difference(square_records()[0].geometry).area < 1e-3


def test_area_m2_of_records_in_a_geographic_crs_is_geodesic(tmp_path):
    square = square_records()[0].geometry
    geo = gpd.GeoSeries([square], crs=UTM).to_crs("EPSG:4326").iloc[0]
    out = tmp_path / "geo.gpkg"
    write_polygons(out, [Record(geo, 2, "trees", "s1", 0.5)], "EPSG:4326")
    area = gpd.read_file(out).area_m2.iloc[0]
    # the UTM square's true (ellipsoidal) area is its planar area / the UTM areal scale
    lon, lat = geo.centroid.x, geo.centroid.y
    scale = Proj(UTM).get_factors(lon, lat).areal_scale
    assert area == pytest.approx(10000.0 / scale, rel=1e-5)
    assert area == pytest.approx(10000.0, rel=2e-3)

    # Web Mercator is in metres but far from true at 45 N: geodesic there too
    merc = gpd.GeoSeries([square], crs=UTM).to_crs("EPSG:3857").iloc[0]
    assert merc.area > 1.9 * 10000  # planar area in EPSG:3857
    out = tmp_path / "merc.gpkg"
    write_polygons(out, [Record(merc, 2, "trees", "s1", 0.5)], "EPSG:3857")
    assert gpd.read_file(out).area_m2.iloc[0] == pytest.approx(10000.0 / scale, rel=1e-5)


def test_geojson_on_request_and_records_from_the_tracer(tmp_path):
    prob = np.zeros((1, 10, 10), np.float32)
    prob[0, 2:7, 3:8] = 0.8
    traced = trace_probability(reader(prob), (10, 10), TF, 0, 0.5)
    records = records_for(traced, 1, "buildings", "sceneA")
    out = tmp_path / "a.geojson"
    write_polygons(out, records, UTM, driver="GeoJSON")
    assert pyogrio.read_info(out)["driver"] == "GeoJSON"
    gdf = gpd.read_file(out)
    assert gdf.crs.to_epsg() == 32632
    assert gdf.area_m2.iloc[0] == pytest.approx(25 * 4.0)
    assert gdf.mean_prob.iloc[0] == pytest.approx(0.8, rel=1e-6)
    assert gdf.class_name.iloc[0] == "buildings" and gdf.scene_id.iloc[0] == "sceneA"


def test_empty_result_is_a_valid_empty_layer(tmp_path):
    for driver, name in (("GPKG", "e.gpkg"), ("GeoJSON", "e.geojson")):
        out = tmp_path / name
        assert write_polygons(out, [], UTM, driver=driver) == 0
        info = pyogrio.read_info(out)
        assert info["features"] == 0
        assert gpd.read_file(out).crs.to_epsg() == 32632
        if driver == "GPKG":  # GeoJSON keeps fields only in its features
            assert list(info["fields"]) == ["class_id", "class_name", "scene_id", "area_m2",
                                            "mean_prob"]  # fmt: skip


def test_merge_scenes_into_one_layer(tmp_path):
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    write_polygons(a, square_records("a"), UTM)
    write_polygons(b, square_records("b") * 2, UTM)
    empty = tmp_path / "c.gpkg"
    write_polygons(empty, [], UTM)
    out = tmp_path / "all.gpkg"
    assert merge_polygons([a, b, empty], out, "GPKG") == 3
    assert pyogrio.list_layers(out).tolist() == [["polygons", "Polygon"]]
    gdf = gpd.read_file(out)
    assert gdf.crs.to_epsg() == 32632 and sorted(gdf.scene_id) == ["a", "b", "b"]

    # a scene in another CRS: refused without an output CRS, reprojected with one
    c = tmp_path / "c33.gpkg"
    sq = gpd.GeoSeries([square_records()[0].geometry], crs=UTM).to_crs("EPSG:32633").iloc[0]
    write_polygons(c, [Record(sq, 1, "x", "c", 0.5)], "EPSG:32633")
    with pytest.raises(DstlError, match=r"c33.gpkg: CRS .* differs from .*a.gpkg"):
        merge_polygons([a, c], tmp_path / "mixed.gpkg")
    assert not (tmp_path / "mixed.gpkg").exists()
    assert merge_polygons([a, c], tmp_path / "m.geojson", "GeoJSON", crs="EPSG:4326") == 2
    merged = gpd.read_file(tmp_path / "m.geojson")
    assert merged.crs.to_epsg() == 4326
    # area_m2 is kept from each scene's file (planar in its own UTM zone)
    assert merged.area_m2.tolist() == pytest.approx([10000.0, sq.area])


def test_unknown_format_and_missing_input(tmp_path):
    with pytest.raises(DstlError, match="polygon format 'KML'"):
        write_polygons(tmp_path / "x.kml", [], UTM, driver="KML")
    with pytest.raises(DstlError, match="nope.gpkg: polygon file not found"):
        merge_polygons([tmp_path / "nope.gpkg"], tmp_path / "all.gpkg")
