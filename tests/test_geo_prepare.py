"""The geo source's checks (geo-check), chips (geo-chips) and the plan of a geo config."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dstl_hpc.config.plan import Plan
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.stacks import known_plane, read_mask, read_stack, read_valid
from dstl_hpc.sources.geo.prepare import check_inputs, write_chips
from dstl_hpc.sources.geo.synthetic import write_geo_dataset

ROOT = Path(__file__).resolve().parent.parent
CLASS_MAP = {
    "building": ["Building"],
    "road": ["Road"],
    "water": ["Water"],
    "trees": ["Trees", "Woodland"],
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("geo") / "data"
    write_geo_dataset(out, scenes=3, size=128, seed=3)
    return out


def spec_for(data: Path, **over) -> dict:
    spec = {
        "scene_table": str(data / "scenes.csv"),
        "scenes": {},
        "labels": [str(data / "labels.gpkg")],
        "labelled_area": [str(data / "labelled_area.gpkg")],
        "class_field": "landuse",
        "classes": CLASS_MAP,
        "chip_size": 64,
        "chip_overlap": 16,
    }
    spec.update(over)
    return spec


def test_check_reads_grids_channels_and_label_counts(dataset):
    check = check_inputs(spec_for(dataset))
    assert set(check["scenes"]) == {"scene1", "scene2", "scene3"}
    grid = check["scenes"]["scene1"]["grid"]
    assert (grid["height"], grid["width"]) == (128, 128)
    assert len(check["channels"]) == 6  # 4 bands at 2 m, 2 at 4 m
    assert check["classes"] == list(CLASS_MAP)
    assert check["label_counts"]["scene1"]["building"] > 0


def test_chips_hold_bands_valid_masks_and_known(dataset, tmp_path):
    check = check_inputs(spec_for(dataset))
    chips = ["scene1__000_000", "scene1__001_001", "scene3__000_000"]
    n = write_chips(check, chips, tmp_path / "stacks", tmp_path / "masks")
    assert n == 3
    stack = read_stack(tmp_path / "stacks/scene1__001_001.h5")
    assert stack.shape == (6, 64, 64) and stack.dtype == np.uint16
    valid = read_valid(tmp_path / "stacks/scene1__001_001.h5")
    assert ((stack == 0).all(axis=0) >= (valid == 0)).all()  # nodata pixels are zero
    mask = tmp_path / "masks/scene1__000_000.h5"
    assert known_plane(mask) == 5
    planes = read_mask(mask, [1, 2, 3, 4, 5])
    known = planes[4]
    assert set(np.unique(known)) <= {0, 1}
    # known: never where the stack has no data
    v = read_valid(tmp_path / "stacks/scene1__000_000.h5")
    assert not (known.astype(bool) & ~v.astype(bool)).any()
    # a test scene's chip: a stack, no mask (its truth is read by the scores)
    assert (tmp_path / "stacks/scene3__000_000.h5").exists()
    assert not (tmp_path / "masks/scene3__000_000.h5").exists()


def test_chip_of_another_scene_grid_is_refused(dataset, tmp_path):
    check = check_inputs(spec_for(dataset))
    with pytest.raises(DstlError, match="not a chip of scene scene1"):
        write_chips(check, ["scene1__009_009"], tmp_path / "s", tmp_path / "m")


def test_missing_class_field_is_named(dataset):
    with pytest.raises(
        DstlError, match=r"labels.gpkg: no field 'category' \(fields: scene, landuse\)"
    ):
        check_inputs(spec_for(dataset, class_field="category"))


def test_class_without_training_labels_is_refused(dataset):
    classes = {**CLASS_MAP, "quarry": ["Quarry"]}
    with pytest.raises(DstlError, match="class 'quarry' has no label in any training scene"):
        check_inputs(spec_for(dataset, classes=classes))


def test_labels_that_overlap_no_scene_are_refused(dataset, tmp_path):
    import geopandas as gpd

    far = gpd.read_file(dataset / "labels.gpkg")
    far["geometry"] = far.geometry.translate(40, 0)  # 40 degrees east: another continent
    path = tmp_path / "far.gpkg"
    far.to_file(path)
    with pytest.raises(DstlError, match="overlap no scene"):
        check_inputs(spec_for(dataset, labels=[str(path)], labelled_area=[]))


def test_scenes_with_different_bands_are_refused(dataset, tmp_path):
    import rasterio

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    src_path = data / "rasters/scene2_fine.tif"
    with rasterio.open(src_path) as src:
        profile, arr = src.profile, src.read([1, 2, 3])
    profile.update(count=3)
    src_path.unlink()
    with rasterio.open(src_path, "w", **profile) as dst:
        dst.write(arr)
    with pytest.raises(DstlError, match="scene scene2.*3 bands"):
        check_inputs(spec_for(data))


def test_raster_without_crs_is_refused(dataset, tmp_path):
    import rasterio

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    path = data / "rasters/scene1_fine.tif"
    with rasterio.open(path) as src:
        profile, arr = src.profile, src.read()
    profile.pop("crs")
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    with pytest.raises(DstlError, match="scene1_fine.tif.*CRS"):
        check_inputs(spec_for(data))


def test_empty_label_file_is_refused(dataset, tmp_path):
    import geopandas as gpd

    empty = gpd.read_file(dataset / "labels.gpkg").iloc[:0]
    path = tmp_path / "empty.gpkg"
    empty.to_file(path)
    with pytest.raises(DstlError, match="empty.gpkg"):
        check_inputs(spec_for(dataset, labels=[str(path)]))


def test_float_bands_need_a_value_range(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    table = tmp_path / "scenes.csv"
    for k in (1, 2):
        with rasterio.open(
            tmp_path / f"f{k}.tif", "w", driver="GTiff", width=32, height=32, count=1,
            dtype="float32", crs="EPSG:32631", transform=from_origin(500000, 5600000, 1, 1),
        ) as dst:  # fmt: skip
            dst.write(np.ones((1, 32, 32), np.float32))
    table.write_text("scene,split,files\ns1,predict,f1.tif\ns2,predict,f2.tif\n")
    spec = {"scene_table": str(table), "scenes": {}, "classes": {"a": ["a"]}, "labels": []}
    with pytest.raises(DstlError, match="f1.tif: band 1 is float32.*value_range"):
        check_inputs(spec)
    check = check_inputs({**spec, "value_range": [0, 2]})
    assert check["channels"] == ["b1"]


# ------------------------------------------------------------------ the plan
def geo_config(**data):
    cfg = yaml.safe_load((ROOT / "config/geo.yaml").read_text())
    cfg["data"].update(data)
    return cfg


def test_plan_chips_splits_and_class_names(tmp_path):
    cfg = geo_config(geo_synthetic={"scenes": 4, "size": 512, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    plan = Plan(cfg)
    assert len(plan.train_ids) == 27  # 3 x 3 chips of 256 px (32 px overlap) x 3 scenes
    assert plan.validation_ids == [f"scene3__{r:03d}_{c:03d}" for r in range(3) for c in range(3)]
    assert all(i.startswith("scene4__") for i in plan.test_ids)
    assert plan.groups["built"]["classes"] == [1, 2]
    assert plan.class_names == {1: "building", 2: "road", 3: "water", 4: "trees"}
    assert plan.groups["built"]["min_steps"] == 240  # the config's; else the geo default


def test_plan_refuses_unknown_class_and_orphan_class(tmp_path):
    cfg = geo_config(geo_synthetic={"scenes": 3, "size": 256, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    cfg["groups"] = {"built": {"classes": ["building", "lake"]}}
    with pytest.raises(DstlError, match="'lake' is not a class of data.class_map"):
        Plan(cfg)
    cfg["groups"] = {"built": {"classes": ["building"]}}
    with pytest.raises(DstlError, match=r"classes \['road', 'water', 'trees'\] are in no group"):
        Plan(cfg)


def test_plan_defaults_min_steps_for_geo(tmp_path):
    cfg = geo_config(geo_synthetic={"scenes": 3, "size": 256, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    del cfg["defaults"]["min_steps"]
    assert Plan(cfg).groups["natural"]["min_steps"] == 2000


def test_geo_dry_run_lists_the_geo_jobs(tmp_path):
    cfg = geo_config()
    cfg["results"] = str(tmp_path / "res")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(path), "--cores", "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("geo_synth", "geo_check", "geo_chips", "geo_stitch", "geo_sweep", "geo_merge"):
        assert rule in out
    assert "align" not in json.dumps(out.split("Job stats:")[1].split("Reasons")[0])


def test_class_order_is_the_class_maps_even_through_sorted_json(dataset, tmp_path):
    """The workflow passes the spec as JSON with sorted keys: class ids (mask planes,
    group classes) must still follow data.class_map's order, not the alphabet."""
    spec = json.loads(
        json.dumps({**spec_for(dataset), "class_names": list(CLASS_MAP)}, sort_keys=True)
    )
    assert list(spec["classes"]) != list(CLASS_MAP)  # the JSON object came back sorted
    assert check_inputs(spec)["classes"] == list(CLASS_MAP)
    cfg = geo_config(geo_synthetic={"scenes": 3, "size": 256, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    plan = Plan(cfg)
    names = json.loads(json.dumps(plan.geo.spec(), sort_keys=True))["class_names"]
    assert names == [plan.class_names[k] for k in sorted(plan.class_names)]


def test_chip_masks_equal_the_whole_scenes_labels_burnt(dataset, tmp_path):
    """Chips burn only the label polygons near them: the same pixels as burning all."""
    from dstl_hpc.sources.geo.grid import SceneGrid
    from dstl_hpc.sources.geo.labels import rasterize_window, read_labels

    check = check_inputs(spec_for(dataset))
    write_chips(check, ["scene1__001_000"], tmp_path / "s", tmp_path / "m")
    grid = SceneGrid.from_dict(check["scenes"]["scene1"]["grid"])
    labels = read_labels([str(dataset / "labels.gpkg")], "landuse", CLASS_MAP, list(CLASS_MAP))
    geoms = labels.for_scene(grid.crs, tuple(grid.bounds))
    window = (48, 0, 64, 64)  # chip (1, 0) of 64 px chips with 16 px overlap
    want = rasterize_window(geoms, grid.window_transform(window), (64, 64))
    got = read_mask(tmp_path / "m/scene1__001_000.h5", [1, 2, 3, 4])
    assert want.any()
    np.testing.assert_array_equal(got, want)


def test_predict_only_needs_an_existing_model_and_thresholds(tmp_path):
    model = tmp_path / "model.pt"
    cfg = geo_config(geo_synthetic={"scenes": 3, "size": 256, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    cfg["variants"] = ["all"]
    for g in cfg["groups"]:
        cfg["groups"][g]["pretrained"] = str(model)
    with pytest.raises(DstlError, match=r"groups.built.pretrained: .*model.pt: no such model file"):
        Plan(cfg)
    model.write_bytes(b"x")
    with pytest.raises(DstlError, match=r"data.thresholds: without the validation variant"):
        Plan(cfg)
    cfg["class_defaults"]["threshold"] = 0.5
    plan = Plan(cfg)
    assert plan.trained_groups == []
    assert plan.predictor_inputs("all", "built") == [str(model)]
    assert plan.index_model_args("built") == ["--classes", "1", "2"]


def test_n_channels_defaults_to_the_scenes_bands_and_is_bounded(tmp_path):
    cfg = geo_config(geo_synthetic={"scenes": 3, "size": 256, "seed": 0})
    cfg["results"] = str(tmp_path / "res")
    del cfg["defaults"]["n_channels"]
    assert Plan(cfg).groups["built"]["n_channels"] == 6
    cfg["groups"]["built"]["n_channels"] = 8
    with pytest.raises(DstlError, match="groups.built.n_channels: 8, but the scenes have 6 bands"):
        Plan(cfg)


def test_dstl_n_channels_stays_within_its_20_channels(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["results"] = str(tmp_path / "res")
    cfg["defaults"]["n_channels"] = 24
    with pytest.raises(DstlError, match="n_channels: 24, but a DSTL stack has 20 channels"):
        Plan(cfg)
