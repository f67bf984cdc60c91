"""The synthetic geo dataset: georeferenced rasters, labels in another CRS, and agreement."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from shapely.geometry import box

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo import synthetic
from dstl_hpc.sources.geo.synthetic import formats, write_geo_dataset
from dstl_hpc.sources.geo.synthetic import write as synthetic_write

SIZE = 160


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("geo") / "data"
    manifest = write_geo_dataset(out, scenes=3, size=SIZE, seed=3)
    return out, manifest


def _labels_in_utm(out: Path) -> gpd.GeoDataFrame:
    labels = gpd.read_file(out / "labels.gpkg")
    assert labels.crs.to_epsg() == 4326
    return labels.to_crs(synthetic.CRS)


def _class_mask(labels, scene, values, transform, shape) -> np.ndarray:
    geoms = labels[(labels["scene"] == scene) & labels["landuse"].isin(values)].geometry
    if geoms.empty:
        return np.zeros(shape, bool)
    return rasterize(geoms.make_valid(), out_shape=shape, transform=transform).astype(bool)


def test_rasters_are_georeferenced_with_a_nodata_border(data):
    out, manifest = data
    assert manifest["coarse_format"] in ("JP2OpenJPEG", "GTiff")
    origins = set()
    for scene in manifest["scenes"]:
        fine_path, coarse_path = (out / f for f in scene["files"])
        with rasterio.open(fine_path) as fine:
            assert fine.crs.to_epsg() == 32631
            assert fine.res == (2.0, 2.0)
            assert (fine.count, fine.width, fine.height) == (4, SIZE, SIZE)
            assert fine.dtypes == ("uint16",) * 4
            assert fine.nodata == 0
            assert fine.descriptions == ("blue", "green", "red", "nir")
            bands = fine.read()
            fine_bounds = fine.bounds
            origins.add((fine.transform.c, fine.transform.f))
        with rasterio.open(coarse_path) as coarse:
            assert coarse.driver == manifest["coarse_format"]
            assert coarse.crs.to_epsg() == 32631
            assert coarse.res == (4.0, 4.0)
            assert (coarse.count, coarse.width, coarse.height) == (2, SIZE // 2, SIZE // 2)
            assert coarse.nodata == 0
            assert coarse.descriptions == ("swir1", "swir2")
            assert tuple(coarse.bounds) == pytest.approx(tuple(fine_bounds))
            swir = coarse.read()
            coarse_mask = coarse.dataset_mask()
        nodata = bands == 0
        # The border is nodata in every band at once, and a few percent of the scene.
        assert (nodata == nodata[0]).all()
        assert 0.01 < nodata[0].mean() < 0.3
        assert (swir == 0).all(axis=0).any()
        assert ((swir == 0) == (swir[0] == 0)).all()
        # A coarse pixel is nodata exactly where one of its four fine pixels is.
        blocks = nodata[0].reshape(SIZE // 2, 2, SIZE // 2, 2).any(axis=(1, 3))
        assert np.array_equal(swir[0] == 0, blocks)
        assert np.array_equal(coarse_mask == 0, blocks)
    assert len(origins) == 3  # the scenes lie at different places


def test_scene_table_splits_and_manifest(data):
    out, manifest = data
    rows = list(csv.DictReader((out / "scenes.csv").read_text().splitlines()))
    assert [r["split"] for r in rows] == ["train", "validation", "test"]
    for row in rows:
        files = row["files"].split(";")
        assert len(files) == 2 and all((out / f).is_file() for f in files)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["class_field"] == "landuse"
    assert manifest["value_map"]["trees"] == ["Trees", "Woodland"]
    assert set(manifest["value_map"]) == {"building", "road", "water", "trees"}
    assert manifest["scenes"][0]["crs"] == "EPSG:32631"
    # Nothing hidden is left beside the dataset.
    assert [p.name for p in out.parent.iterdir()] == ["data"]


def test_labels_in_wgs84_fall_inside_their_scenes(data):
    out, manifest = data
    labels = _labels_in_utm(out)
    mapped = {v for values in manifest["value_map"].values() for v in values}
    assert set(labels["landuse"]) <= mapped | {"Parking"}
    assert {"Building", "Road", "Water", "Trees", "Woodland", "Parking"} <= set(labels["landuse"])
    assert (labels["landuse"] == "Parking").sum() == manifest["unmapped"]["count"] > 0
    invalid = labels[~labels.geometry.is_valid]
    assert len(invalid) == manifest["invalid_polygons"] == 1
    assert invalid["landuse"].tolist() == ["Building"]
    assert "Self-intersection" in shapely.is_valid_reason(invalid.geometry.iloc[0])
    for scene in manifest["scenes"]:
        mine = labels[labels["scene"] == scene["id"]]
        assert len(mine) > 0
        inside = box(*scene["bounds"]).buffer(0.01)
        assert mine.geometry.make_valid().within(inside).all()


def test_labelled_area_leaves_out_a_quarter_of_a_training_scene(data):
    out, manifest = data
    area = gpd.read_file(out / "labelled_area.gpkg")
    assert area.crs.to_epsg() == 4326
    area = area.to_crs(synthetic.CRS).set_index("scene")
    labels = _labels_in_utm(out)
    first = manifest["scenes"][0]
    full = SIZE * 2.0 * SIZE * 2.0
    assert area.geometry[first["id"]].area == pytest.approx(0.75 * full, rel=1e-6)
    for scene in manifest["scenes"][1:]:
        assert area.geometry[scene["id"]].area == pytest.approx(full, rel=1e-6)
    left, bottom, right, top = first["bounds"]
    hole = box((left + right) / 2, (bottom + top) / 2, right, top)
    mine = labels[labels["scene"] == first["id"]].geometry.make_valid()
    assert mine.intersection(hole).area.sum() < 1e-3
    assert manifest["unlabelled_features"] > 0


def test_label_polygons_are_the_painted_pixels(data):
    """Pixels under each class's polygons have that class's spectrum (fine and coarse)."""
    out, manifest = data
    labels = _labels_in_utm(out)
    seen_water = 0
    for scene in manifest["scenes"]:
        fine_path, coarse_path = (out / f for f in scene["files"])
        with rasterio.open(fine_path) as src:
            bands = src.read().astype(float)
            transform = src.transform
        with rasterio.open(coarse_path) as src:
            swir = src.read().astype(float)
            coarse_transform = src.transform
        valid = bands[0] > 0
        shape = (SIZE, SIZE)
        water = _class_mask(labels, scene["id"], ["Water"], transform, shape) & valid
        trees = _class_mask(labels, scene["id"], ["Trees", "Woodland"], transform, shape) & valid
        houses = _class_mask(labels, scene["id"], ["Building"], transform, shape) & valid
        roads = _class_mask(labels, scene["id"], ["Road"], transform, shape) & valid
        other = valid & ~(water | trees | houses | roads)
        blue, _green, red, nir = bands
        if water.any():
            seen_water += 1
            assert nir[water].max() < 400 and nir[other].mean() > 1500
            # A point inside a water polygon, read through the raster's georeferencing.
            lakes = labels[(labels["scene"] == scene["id"]) & (labels["landuse"] == "Water")]
            point = lakes.geometry.iloc[0].representative_point()
            row, col = rasterio.transform.rowcol(transform, point.x, point.y)
            if valid[row, col]:
                assert nir[row, col] < 400
            water_c = _class_mask(
                labels, scene["id"], ["Water"], coarse_transform, (SIZE // 2, SIZE // 2)
            ) & (swir[0] > 0)
            assert swir[:, water_c].mean() < 300
        assert nir[trees].mean() > 3000 and red[trees].mean() < 500
        assert blue[houses].min() > 1000 and blue[houses].mean() > 1600
        assert 1100 < blue[roads].mean() < 1500 and nir[roads].mean() < 1700
        # Water and trees differ in nir, buildings and roads in swir too.
        assert blue[other].mean() < blue[houses].mean()
    assert seen_water == 3


def test_same_seed_same_bytes(tmp_path):
    a = write_geo_dataset(tmp_path / "a", scenes=3, size=128, seed=7)
    b = write_geo_dataset(tmp_path / "b", scenes=3, size=128, seed=7)
    assert a == b
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    assert files_a == files_b
    for rel in files_a:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    write_geo_dataset(tmp_path / "c", scenes=3, size=128, seed=8)
    fine = "rasters/scene1_fine.tif"
    assert (tmp_path / "a" / fine).read_bytes() != (tmp_path / "c" / fine).read_bytes()


def test_rewrites_its_own_folder_but_no_other(tmp_path):
    out = tmp_path / "data"
    write_geo_dataset(out, scenes=3, size=128, seed=1)
    write_geo_dataset(out, scenes=4, size=128, seed=2)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert len(list((out / "rasters").glob("*_fine.tif"))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(DstlError, match=r"mine: a non-empty folder that this generator did not"):
        write_geo_dataset(other, scenes=3, size=128)
    assert (other / "notes.txt").read_text() == "keep me"


def test_refuses_fewer_than_three_scenes(tmp_path):
    with pytest.raises(DstlError, match=r"data: .*at least 3 scenes .*got 2"):
        write_geo_dataset(tmp_path / "data", scenes=2)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 100}, r"data: the scene size must be an even number >= 128, got 100"),
        ({"size": 129}, r"got 129"),
        ({"classes": ("building", "cars")}, r"data: classes .*'cars'.* among building"),
        ({"classes": ()}, r"data: classes \[\]"),
    ],
)
def test_refuses_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(DstlError, match=message):
        write_geo_dataset(tmp_path / "data", scenes=3, **kwargs)


def test_a_failure_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(synthetic_write, "write_vectors", boom)
    with pytest.raises(RuntimeError, match="killed"):
        write_geo_dataset(tmp_path / "data", scenes=3, size=128)
    assert not any(tmp_path.iterdir())


def test_geotiff_when_no_jpeg2000_writer(tmp_path, monkeypatch):
    monkeypatch.setitem(formats._JP2_PROBE, "jp2", False)
    manifest = write_geo_dataset(tmp_path / "data", scenes=3, size=128, classes=("water",))
    assert manifest["coarse_format"] == "GTiff"
    coarse = tmp_path / "data" / manifest["scenes"][0]["files"][1]
    assert coarse.suffix == ".tif"
    with rasterio.open(coarse) as src:
        assert src.driver == "GTiff" and src.res == (4.0, 4.0) and src.nodata == 0
    assert manifest["value_map"] == {"water": ["Water"]}
    labels = gpd.read_file(tmp_path / "data" / "labels.gpkg")
    assert set(labels["landuse"]) == {"Water", "Parking"}
    assert manifest["invalid_polygons"] == 0
