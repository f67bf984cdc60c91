"""End-to-end: the workflow on tiny synthetic georeferenced scenes (data.source: geo),
then the GIS outputs read back as a GIS user would, and the dry runs of config changes."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_workflow import snakemake

ROOT = Path(__file__).resolve().parent.parent


def tiny_geo_config(results="results"):
    cfg = yaml.safe_load((ROOT / "config/geo.yaml").read_text())
    cfg["results"] = results
    cfg["data"]["geo_synthetic"] = {"scenes": 3, "size": 192, "seed": 1}
    cfg["data"]["chip_size"] = 128
    cfg["data"]["chip_overlap"] = 32
    cfg["data"]["chips_per_job"] = 4
    cfg["images_per_job"] = 4
    cfg["defaults"].update(
        filters_base=4, epochs=1, batch_size=8, min_steps=6, valid_tile=64, tile=64,
        lr_decay_epochs=[],
    )  # fmt: skip
    return cfg


@pytest.fixture(scope="module")
def geo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("geo")
    cfg = tiny_geo_config()
    proc = snakemake(workdir, cfg)
    return workdir, cfg, proc


@pytest.mark.slow
def test_geo_outputs_open_in_gis_tools(geo_run):
    import geopandas as gpd
    import rasterio

    workdir, cfg, proc = geo_run
    res = workdir / "results"
    data = res / "data"
    with rasterio.open(data / "rasters/scene3_fine.tif") as scene:
        scene_crs, scene_transform, scene_shape = scene.crs, scene.transform, scene.shape
    cog = res / "geo/all/probabilities/scene3.tif"
    with rasterio.open(cog) as src:
        assert src.crs == scene_crs
        assert src.transform.almost_equals(scene_transform)
        assert src.shape == scene_shape
        assert src.nodata == 255
        assert src.count == 4
        assert list(src.descriptions) == ["building", "road", "water", "trees"]
        assert src.profile["tiled"]
        probs = src.read()
        # the scene's nodata border is nodata in every class band, and only there
        nodata_in = (probs == 255).all(axis=0)
    with rasterio.open(data / "rasters/scene3_fine.tif") as scene:
        border = ~scene.dataset_mask().astype(bool)
    assert nodata_in.any()
    # nodata: the fine file's border, and where the coarse (4 m) file's border reaches
    # through bilinear resampling: at most 3 fine pixels beyond it
    import cv2

    near = cv2.dilate(border.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (nodata_in >= border).all()
    assert not (nodata_in & ~near).any()
    merged = gpd.read_file(res / "polygons.gpkg")
    assert merged.crs == scene_crs
    assert set(merged.columns) >= {"class_id", "class_name", "scene_id", "area_m2", "mean_prob"}
    assert set(merged["scene_id"]) <= {"scene3"}
    if len(merged):
        inside = merged.geometry.within(
            gpd.GeoSeries.from_xy([0], [0])
            .buffer(1)
            .set_crs(scene_crs)
            .iloc[0]
            .union(__import__("shapely").box(*rasterio.open(cog).bounds))
        )
        assert inside.all()
        assert (merged["area_m2"] > 0).all()
        assert merged["mean_prob"].between(0, 1).all()


@pytest.mark.slow
def test_geo_scores_and_summary(geo_run):
    workdir, cfg, proc = geo_run
    res = workdir / "results"
    for split in ("validation", "test"):
        scores = json.loads((res / split / "scores.json").read_text())
        assert set(scores["classes"]) == {"building", "road", "water", "trees"}
        for s in scores["classes"].values():
            assert set(s) >= {"iou", "f1", "precision", "recall", "polygon_jaccard", "threshold"}
    thresholds = json.loads((res / "validation/thresholds.json").read_text())
    assert set(thresholds["thresholds"]) == {"building", "road", "water", "trees"}
    out = proc.stdout + proc.stderr
    assert "polygons.gpkg" in out
    assert "building" in out


@pytest.mark.slow
def test_geo_predict_only_group_change_reruns_only_that_group(geo_run):
    workdir, cfg, _ = geo_run
    changed = json.loads(json.dumps(cfg))
    changed["groups"]["built"]["lr"] = 0.001
    proc = snakemake(workdir, changed, "-n", "--quiet", "rules")
    text = proc.stdout + proc.stderr
    assert "train" in text
    dry = snakemake(workdir, changed, "-n")
    outs = dry.stdout + dry.stderr
    assert "models/validation/built/model.pt" in outs
    assert "models/validation/natural/model.pt" not in outs
    assert "geo_chips" not in outs


def predict_only_config(res: Path, table: Path, results: str) -> dict:
    cfg = tiny_geo_config(results)
    data = cfg["data"]
    del data["geo_synthetic"]
    data.update(
        scenes=str(table),
        thresholds=str(res / "validation/thresholds.json"),
    )
    cfg["variants"] = ["all"]
    for g in cfg["groups"]:
        cfg["groups"][g]["pretrained"] = str(res / f"models/all/{g}/model.pt")
    return cfg


@pytest.mark.slow
def test_geo_predict_only_run_with_an_earlier_model(geo_run, tmp_path):
    """New scenes predicted with the models of an earlier run, no training: the dry run
    shows only their jobs; a scene of other bands is refused in one line (fewer bands
    than the model reads: before any job, see test_geo_prepare)."""
    import geopandas as gpd

    workdir, _, _ = geo_run
    res = workdir / "results"
    rasters = sorted(p for p in (res / "data/rasters").glob("scene3_*") if p.suffix != ".xml")
    rasters = sorted(rasters, key=lambda p: "_fine" not in p.name)  # the model's file order
    table = tmp_path / "new_scenes.csv"
    table.write_text(f"scene,split,files\nnew1,predict,{';'.join(str(p) for p in rasters)}\n")
    new = tmp_path / "run"
    new.mkdir()
    cfg = predict_only_config(res, table, "results")
    dry = snakemake(new, cfg, "-n")
    jobs = dry.stdout.split("Job stats:")[1].split("Reasons")[0]
    for rule in ("geo_check", "geo_chips", "predictor", "predict", "geo_stitch", "geo_merge"):
        assert rule in jobs
    for rule in ("train", "stats", "geo_sweep", "geo_synth", "geo_score"):
        assert f"\n{rule} " not in jobs
    before = {p: p.stat().st_mtime_ns for p in (res / "data").rglob("*")}
    snakemake(new, cfg)
    # nothing written into the input folders (no GDAL .aux.xml, no index, no change)
    assert {p: p.stat().st_mtime_ns for p in (res / "data").rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new_scenes.csv", "run"]
    merged = gpd.read_file(new / "results/polygons.gpkg")
    assert set(merged["scene_id"]) <= {"new1"}
    assert (new / "results/geo/all/probabilities/new1.tif").exists()
    # the same six bands in another order (the 4 m file first): refused by predict
    table.write_text(f"scene,split,files\nnew1,predict,{rasters[1]};{rasters[0]}\n")
    other = tmp_path / "other"
    other.mkdir()
    proc = snakemake(other, predict_only_config(res, table, "results"), check=False)
    assert proc.returncode != 0
    log = (other / "results/logs/predict/all/built/part0.log").read_text()
    assert "are not the ones the model was trained on" in log
