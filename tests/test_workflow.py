"""End-to-end: the real workflow on a tiny synthetic dataset, then dry runs that
show which jobs a config change makes stale."""

import copy
import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(results="results"):
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["results"] = results
    cfg["synthetic"] = {"images": 6, "train_images": 4, "size": [160, 160], "seed": 1}
    cfg["defaults"].update(
        filters_base=4,
        epochs=1,
        batch_size=8,
        epoch_fraction=0.5,
        lr_decay_epochs=[],
        valid_tile=64,
        tile=64,
        shift_steps=2,
    )
    cfg["groups"] = {
        "built": {"classes": [1, 2]},
        "ground": {"classes": [3, 4, 5, 6]},
        "water": {"classes": [7, 8, 9, 10], "shift_average": False},
    }
    return cfg


def snakemake(workdir, cfg, *args, check=True):
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))  # geo: class_map order = ids
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(cfg_path), "--cores", "2", *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_outputs(proc):
    """Output files of the jobs a dry run would run (report figures, which gather
    every group and class into a few jobs, left out)."""
    outs = set()
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"\s+output: (.*)", line)
        if m:
            outs.update(p.strip() for p in m.group(1).split(","))
    return {o for o in outs if "/report/" not in o}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    cfg = tiny_config()
    proc = snakemake(workdir, cfg)
    return workdir, cfg, proc


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tiny_run):
    workdir, cfg, proc = tiny_run
    res = workdir / "results"
    scores = json.loads((res / "validation/scores.json").read_text())
    assert set(scores["per_class"]) == {str(k) for k in range(1, 11)}
    assert set(scores["per_class_tuned"]) == {str(k) for k in range(1, 11)}
    # Held out: each of the two validation images at the threshold of the other one.
    held = scores["held_out"]["thresholds"]
    assert set(held) == {str(k) for k in range(1, 11)}
    assert all(set(t) == set(scores["images"]) for t in held.values())
    test = json.loads((res / "test/scores.json").read_text())
    assert (
        test["images"]
        == [r[0] for r in csv.reader(open(res / "data/sample_submission.csv"))][1::10]
    )
    sources = json.loads((res / "submission_sources.json").read_text())
    assert sources["truth_ids"] == []  # synthetic test ids are never training ids
    with gzip.open(res / "submission.csv.gz", "rt") as fh:
        rows = list(csv.reader(fh))
    with open(res / "data/sample_submission.csv") as fh:
        sample = list(csv.reader(fh))
    assert [r[:2] for r in rows] == [r[:2] for r in sample]
    for k in range(1, 11):
        assert (res / f"validation/thresholds/class_{k}.json").exists()
        assert (res / f"polygons/all/class_{k}.csv").exists()
    for variant in ("validation", "all"):
        for group in cfg["groups"]:
            assert (res / f"models/{variant}/{group}/model.pt").exists()
    # Checkpoints are removed once a model is complete.
    assert (
        not list((res / "checkpoints").rglob("*.ckpt")) if (res / "checkpoints").exists() else True
    )


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_run):
    workdir, cfg, _ = tiny_run
    proc = snakemake(workdir, cfg, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changing_one_group_reruns_only_that_group(tiny_run):
    workdir, cfg, _ = tiny_run
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"]["built"]["dropout"] = 0.2
    outs = planned_outputs(snakemake(workdir, cfg2, "-n"))
    trained = {o for o in outs if "/models/" in o}
    assert trained == {
        f"results/models/{v}/built/{f}"
        for v in ("validation", "all")
        for f in ("model.pt", "metrics.csv", "predictor.pt")
    }
    assert all("/built/" in o for o in outs if "/predictions/" in o)
    polygon_classes = {int(m) for o in outs for m in re.findall(r"class_(\d+)", o)}
    assert polygon_classes == {1, 2}
    assert not any("/stacks/" in o or "/masks/" in o for o in outs)
    assert "results/submission.csv.gz" in outs and "results/validation/scores.json" in outs


@pytest.mark.slow
def test_changing_prediction_settings_does_not_retrain(tiny_run):
    workdir, cfg, _ = tiny_run
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"]["water"]["shift_average"] = True
    outs = planned_outputs(snakemake(workdir, cfg2, "-n"))
    # only the model file predict reads is rewritten: no training
    assert {o for o in outs if "/models/" in o} == {
        f"results/models/{v}/water/predictor.pt" for v in ("validation", "all")
    }
    assert outs and all("/water/" in o for o in outs if "/predictions/" in o)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["built", "water"])
def test_hand_run_predict_reproduces_the_workflow(tiny_run, tmp_path, group):
    """`dstl-hpc predict` by hand on the workflow's model file, with no options, writes
    the workflow's prediction bit for bit (the file holds the prediction settings)."""
    import h5py
    import numpy as np

    workdir, cfg, _ = tiny_run
    res = workdir / "results"
    done = sorted((res / f"predictions/all/{group}").glob("part*/*.h5"))[0]
    stack = next((res / "stacks").glob(f"part*/{done.name}"))
    out = tmp_path / "by_hand.h5"
    model = res / f"models/all/{group}/predictor.pt"
    cmd = [sys.executable, "-m", "dstl_hpc", "predict", str(model), str(stack), str(out)]
    subprocess.run(cmd + ["--threads", "1"], check=True, cwd=ROOT, capture_output=True)
    with h5py.File(done, "r") as a, h5py.File(out, "r") as b:
        assert np.array_equal(a["prob"][:], b["prob"][:])
        assert {k: str(v) for k, v in a.attrs.items()} == {k: str(v) for k, v in b.attrs.items()}


@pytest.mark.slow
def test_changing_one_class_reruns_only_that_class(tiny_run):
    workdir, cfg, _ = tiny_run
    cfg2 = copy.deepcopy(cfg)
    cfg2["classes"]["4"] = {"epsilon": 1.0}
    outs = planned_outputs(snakemake(workdir, cfg2, "-n"))
    classes = {int(m) for o in outs for m in re.findall(r"class_(\d+)", o)}
    assert classes == {4}
    assert not any("/models/" in o or "/predictions/" in o for o in outs)
    assert {"results/submission.csv.gz", "results/validation/scores.json"} <= outs


def test_config_typo_names_the_key(tmp_path):
    cfg = tiny_config()
    cfg["defaults"]["epochz"] = 3
    proc = snakemake(tmp_path, cfg, "-n", check=False)
    assert proc.returncode == 2
    assert "config defaults.epochz: unknown key; did you mean 'epochs'?" in proc.stderr


def test_dry_run_of_the_demo_lists_every_stage(tmp_path):
    proc = snakemake(tmp_path, tiny_config(), "-n")
    text = proc.stdout + proc.stderr
    for rule in ("synth", "align", "masks", "stats", "train", "predict", "sweep", "polygonize",
                 "gather", "score", "merge"):  # fmt: skip
        assert re.search(rf"^{rule}\s+\d+", text, re.M), rule


@pytest.mark.slow
def test_options_beyond_the_seed_run_end_to_end(tmp_path):
    """Mosaic scenes, index channels, an ensemble of two members and best checkpoints:
    the workflow runs them through, and the models and predictions say so."""
    import torch

    cfg = tiny_config()
    cfg["synthetic"]["mosaic"] = True
    cfg["groups"] = {
        "built": {"classes": [1, 2], "members": 2, "ensemble": "median", "mosaic": True},
        "rest": {"classes": list(range(3, 11)), "indices": ["ndwi", "ndvi"], "checkpoint": "best"},
        "water_index": {"classes": [7, 8], "model": "ndwi"},  # a candidate for 7 and 8
    }
    snakemake(tmp_path, cfg)
    res = tmp_path / "results"
    built = torch.load(res / "models/all/built/predictor.pt", weights_only=True)
    assert len(built["members"]) == 2 and built["predict"]["ensemble"] == "median"
    assert built["predict"]["mosaic"] is True and "mosaic" not in built["hparams"]
    seeds = [
        torch.load(res / f"models/all/{u}/model.pt", weights_only=True)["hparams"]["seed"]
        for u in ("built", "built__m1")
    ]
    assert seeds == [0, 1]
    rest = torch.load(res / "models/all/rest/model.pt", weights_only=True)
    assert rest["channels"][-2:] == ["ndwi", "ndvi"] and len(rest["mean"]) == 14
    # checkpoint best: the all variant trained up to the epochs validation chose, kept them;
    # a class that never scored on validation (None) keeps the last weights of every epoch
    chosen = [v["epoch"] for v in rest["best"].values() if v is not None]
    assert chosen
    every = len(chosen) == len(rest["best"])
    assert rest["epochs_done"] == (max(chosen) if every else rest["hparams"]["epochs"])
    ready = torch.load(res / "models/all/rest/predictor.pt", weights_only=True)
    assert ready["predict"]["checkpoint"] == "best" and ready["members"]
    stats = json.loads((res / "stats.json").read_text())
    assert {"ndwi", "ndvi", "ccci"} <= set(stats["channels"])
    log = (res / "logs/predict/all/built/part0.log").read_text()
    assert "2 member(s)" in log and "px of scene context" in log
    assert (res / "submission.csv.gz").exists() and (res / "validation/scores.json").exists()
    # classes 7 and 8: "rest" or the ndwi index, whichever validated better (held out)
    for k in (7, 8):
        chosen = json.loads((res / f"validation/thresholds/class_{k}.json").read_text())
        assert set(chosen["group_scores"]) == {"rest", "water_index"}
        # undefined (None): no truth and nothing predicted on both images, i.e. perfect
        scores = chosen["group_scores"]
        best = max(scores, key=lambda g: (1.0 if scores[g] is None else scores[g], g == "rest"))
        assert chosen["group"] == best
    assert not (res / "models/all/water_index/model.pt").exists()  # nothing trained
    summary = subprocess.run(
        [sys.executable, "-m", "dstl_hpc", "summary", str(res)],
        capture_output=True, text=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "groups chosen on validation" in summary and "class 7 waterway" in summary
