"""Configs refused before the first job, in one line naming the key: schema errors
(dstl_hpc.config.validate), results folders (results_dir), keys that contradict each
other (consistency), classes no group predicts, and jobs whose images cannot fit in
their memory (dstl_hpc.memory + dstl_hpc.config.job_memory, checked against peaks
measured here)."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_workflow import snakemake, tiny_config

from dstl_hpc.config.job_memory import check_job_memory, job_needs
from dstl_hpc.config.load import workflow_config
from dstl_hpc.config.plan import Plan
from dstl_hpc.config.results_dir import results_dir
from dstl_hpc.config.schema import SCHEMA_FILE
from dstl_hpc.config.schema_keys import DEFAULTS
from dstl_hpc.config.validate import validate_config
from dstl_hpc.errors import DstlError
from dstl_hpc.memory import (
    ALIGN,
    MASKS,
    STATS,
    SYNTH,
    machine_memory,
    predict_footprint,
    train_footprint,
)

ROOT = Path(__file__).resolve().parent.parent


def demo_config():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def refusal(cfg):
    with pytest.raises(DstlError) as info:
        validate_config(cfg)
    return str(info.value)


# ------------------------------------------------------------- the schema, one line


@pytest.mark.parametrize(
    "mutate, line",
    [
        (
            lambda c: c["groups"]["buildings"].update(epochs=-3),
            "config groups.buildings.epochs: -3 is less than the minimum of 1",
        ),
        (
            lambda c: c["defaults"].update(epochz=3),
            "config defaults.epochz: unknown key; did you mean 'epochs'?",
        ),
        (lambda c: c.update(resullts="r"), "config resullts: unknown key; did you mean 'results'?"),
        (
            lambda c: c["defaults"].update(in_memory="sometimes"),
            "config defaults.in_memory: 'sometimes' is not valid: expected boolean, 'auto'",
        ),
        (
            lambda c: c["groups"]["roads"].update(classes=[3, 0]),
            "config groups.roads.classes[1]: 0 is less than the minimum of 1",
        ),
        (lambda c: c.pop("data"), "config: 'data' is a required property"),
        (
            lambda c: c["data"].update(source="dstll"),
            "config data.source: 'dstll' is not one of ['synthetic', 'dstl', 'geo']",
        ),
    ],
)
def test_schema_errors_are_one_line_naming_the_key(mutate, line):
    cfg = demo_config()
    mutate(cfg)
    assert refusal(cfg) == line


def test_of_several_errors_the_most_relevant_is_named():
    cfg = demo_config()
    cfg["groups"]["buildings"].update(epochs=-3, tile=16.5)
    cfg["defaults"]["lr"] = "fast"
    message = refusal(cfg)
    assert "\n" not in message and message.startswith("config ")
    assert any(k in message for k in ("epochs", "tile", "defaults.lr"))


def test_a_huge_value_is_shortened_to_one_line():
    cfg = demo_config()
    cfg["groups"]["buildings"]["classes"] = {str(i): "x" * 50 for i in range(50)}
    message = refusal(cfg)
    assert "\n" not in message and len(message) < 400
    assert message.startswith("config groups.buildings.classes: ")


def test_defaults_are_filled_in_as_snakemake_validate_filled_them():
    from snakemake.utils import validate

    cfg = {
        "data": {"source": "synthetic"},
        "results": "r",
        "defaults": {},
        "groups": {"g": {"classes": [1]}},
    }
    ours, theirs = copy.deepcopy(cfg), copy.deepcopy(cfg)
    validate_config(ours)
    validate(theirs, str(SCHEMA_FILE))
    assert ours == theirs
    assert ours["sweep_thresholds"] == DEFAULTS["sweep_thresholds"]
    assert ours["images_per_job"] == 1 and ours["variants"] == ["validation", "all"]
    assert ours["unmodelled_classes"] == [] and ours["results"] == "r"
    ours["sweep_thresholds"].append(0.99)  # each config its own copy of a default
    again = copy.deepcopy(cfg)
    validate_config(again)
    assert again["sweep_thresholds"] == DEFAULTS["sweep_thresholds"]


def test_the_default_sweep_grid_reaches_past_the_old_ends():
    cfg = demo_config()
    workflow_config(cfg)
    grid = Plan(cfg).sweep_thresholds()
    assert grid[0] == 0.05 and grid[-1] == 0.95 and 0.8 in grid and 0.9 in grid


# ------------------------------------------------------------- results folder


def test_results_home_shortcut_is_expanded():
    assert results_dir("~/runs/a") == Path.home() / "runs" / "a"
    assert results_dir("results") == Path("results")


@pytest.mark.parametrize(
    "value, words",
    [
        ("/", "is the filesystem root"),
        ("/tmp/../", "is the filesystem root"),
        ("~", "is the home directory itself"),
        ("~no_such_user_xyz/r", "is not a user of this machine"),
        (str(ROOT), "is this checkout itself"),
        (str(ROOT / "dstl_hpc" / "out"), "checkout's dstl_hpc/ folder"),
        (str(ROOT / "workflow"), "checkout's workflow/ folder"),
        ("a\nb", "control character"),
        ("r{x}", "wildcard"),
    ],
)
def test_results_folders_that_are_refused(value, words):
    with pytest.raises(DstlError, match=f"config results: .*{words}"):
        results_dir(value)


def test_plan_refuses_results_at_the_root():
    cfg = demo_config()
    cfg["results"] = "/"
    with pytest.raises(DstlError, match="filesystem root"):
        Plan(cfg)


# ------------------------------------------------------------ contradicting keys


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda c: c.update(validation_ids=[]), "config validation_ids: empty, but variants"),
        (
            lambda c: c.update(variants=["all"]),
            r"config variants: \['all'\] has no validation, but the thresholds of classes",
        ),
        (
            lambda c: c["classes"].update({"11": {"threshold": 0.5}}),
            "config classes.11: not a class of this source",
        ),
        (
            lambda c: c["groups"].pop("vehicles"),
            r"config groups: classes \[9, 10\] are in no group .* unmodelled_classes",
        ),
        (
            lambda c: c.update(unmodelled_classes=[9]),
            "config unmodelled_classes: classes 9 in vehicles: a group predicts them",
        ),
        (lambda c: c.update(unmodelled_classes=[12]), "config unmodelled_classes: 12 not a class"),
    ],
)
def test_contradicting_keys_are_refused(mutate, words):
    cfg = demo_config()
    mutate(cfg)
    with pytest.raises(DstlError, match=words):
        Plan(cfg)


def test_unmodelled_classes_said_so_are_accepted():
    cfg = demo_config()
    cfg["groups"].pop("vehicles")
    cfg["unmodelled_classes"] = [9, 10]
    plan = Plan(cfg)
    assert plan.classes == list(range(1, 9))


def test_fixed_thresholds_need_no_validation_variant():
    cfg = demo_config()
    cfg["variants"] = ["all"]
    cfg["class_defaults"]["threshold"] = 0.4
    assert Plan(cfg).swept_classes == []


def test_geo_classes_in_no_group_or_said_unmodelled_are_refused(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/geo.yaml").read_text())
    cfg["data"]["geo_synthetic"] = {"scenes": 3, "size": 256, "seed": 0}
    cfg["results"] = str(tmp_path / "res")
    cfg["groups"] = {"built": {"classes": ["building", "road", "water"]}}
    with pytest.raises(DstlError, match=r"classes \['trees'\] are in no group.*data.class_map"):
        Plan(cfg)
    cfg["unmodelled_classes"] = ["trees"]
    with pytest.raises(DstlError, match="config unmodelled_classes: a geo source"):
        Plan(cfg)
    cfg = yaml.safe_load((ROOT / "config/geo.yaml").read_text())
    cfg["data"]["geo_synthetic"] = {"scenes": 3, "size": 256, "seed": 0}
    cfg["results"] = str(tmp_path / "res")
    cfg["classes"] = {"lake": {"threshold": 0.3}}
    with pytest.raises(DstlError, match="config classes.lake: not a class of this source"):
        Plan(cfg)


# ------------------------------------------------------------------- memory


def test_estimates_grow_with_the_pixels_and_name_the_key_and_limit():
    cfg = demo_config()
    cfg["synthetic"]["size"] = [6000, 6000]
    plan = Plan(cfg)
    with pytest.raises(DstlError) as info:
        check_job_memory(plan)
    message = str(info.value)
    px = 6002 * 6003
    assert message.startswith("config synthetic.size: [6000, 6000] px images need about ")
    assert f"{ALIGN.bytes(px) / 2**30:.1f} GiB per align job" in message
    assert "more than the 2.0 GiB its jobs get (resources.align.mem_mb: 2000)" in message
    cfg["resources"]["align"]["mem_mb"] = 8000  # they fit a larger align job; then
    with pytest.raises(DstlError, match=r"per predict job .*predict_resources.mem_mb: 2000"):
        check_job_memory(Plan(cfg))
    cfg["defaults"]["predict_resources"]["mem_mb"] = 4000
    assert check_job_memory(Plan(cfg))


def test_synthetic_40000_px_is_refused_at_its_first_job():
    cfg = demo_config()
    cfg["synthetic"]["size"] = [40000, 40000]
    with pytest.raises(DstlError, match=r"per synth job .* \(mem_mb of rule synth: 4000\)"):
        check_job_memory(Plan(cfg))


def test_training_in_memory_counts_every_training_image():
    cfg = demo_config()
    cfg["synthetic"]["size"] = [4000, 4000]  # 8 x 16 Mpx x 2 bytes x 14 planes: 3.6 GiB
    cfg["resources"] = {s: {"mem_mb": 8000} for s in ("align", "masks", "polygons")}
    cfg["defaults"]["in_memory"] = True
    plan = Plan(cfg)
    with pytest.raises(DstlError, match=r"config groups.buildings.in_memory: 8 training images"):
        check_job_memory(plan)
    cfg["defaults"]["in_memory"] = "auto"  # read from HDF5 when they do not fit: no refusal
    check_job_memory(Plan(cfg))


def test_training_in_memory_on_several_gpus_counts_a_copy_per_process():
    """`gpu: 2` trains in two processes (train --procs 2), each holding the images."""
    cfg = demo_config()
    cfg["synthetic"]["size"] = [2000, 2000]  # 8 x 4 Mpx x 2 bytes x 14 planes: 0.9 GiB
    cfg["resources"] = {s: {"mem_mb": 8000} for s in ("align", "masks", "polygons")}
    cfg["defaults"]["in_memory"] = True
    cfg["defaults"]["train_resources"]["mem_mb"] = 2500
    one = [n for n in job_needs(Plan(cfg)) if n.step == "train"]
    check_job_memory(Plan(cfg))  # one process: about 1.5 GiB, within 2500 MiB
    cfg["defaults"]["train_resources"]["gpu"] = 2
    two = [n for n in job_needs(Plan(cfg)) if n.step == "train"]
    one_gpu = train_footprint(14, gpu=True)  # 12 channels + 2 classes; a CUDA context each
    assert [t.bytes for t in two] == [2 * one_gpu.bytes(o.pixels) for o in one]
    with pytest.raises(DstlError, match=r"in each of 2 processes"):
        check_job_memory(Plan(cfg))


def test_a_local_run_is_limited_by_the_machine_too():
    cfg = demo_config()
    plan = Plan(cfg)
    assert check_job_memory(plan, machine=(2**40, "MemTotal"))  # all fit
    with pytest.raises(DstlError, match=r"more than the 0.2 GiB this machine has \(MemTotal"):
        check_job_memory(plan, machine=(200 * 2**20, "MemTotal"))
    total, which = machine_memory()
    assert total > 0 and which


# A small process starts the step and reports its peak: a child's ru_maxrss also counts
# the memory of the process it was forked from (here pytest's, torch and all).
MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def _peak_mib(args, cwd) -> float:
    """Max RSS (MiB) of one `python -m dstl_hpc ...` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "dstl_hpc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    code, kib = proc.stdout.split()
    assert proc.returncode == 0 and code == "0", proc.stderr[-2000:]
    return int(kib) / 1024  # KiB on Linux


# Tolerance: an estimate is at least the measured peak (no job let through that would
# not fit) and at most twice it (no job refused that would fit in half the memory).
TOLERANCE = 2.0


def _prepare(tmp_path, side: int, ids=("6010_0_0",)) -> dict:
    """synth, align, masks and stats of ``side`` px images, each one's peak measured."""
    measured = {
        "synth": _peak_mib(
            ["synth", "data", "--images", "3", "--train", "2", "--size", str(side), str(side)],
            tmp_path,
        ),  # fmt: skip
        "align": _peak_mib(
            ["align", "data", *ids, "--out-dir", "stacks", "--threads", "1"], tmp_path
        ),  # fmt: skip
    }
    for i in ids:
        measured["masks"] = _peak_mib(["masks", "data", i, f"masks/{i}.h5"], tmp_path)
    stacks = [f"stacks/{i}.h5" for i in ids]
    measured["stats"] = _peak_mib(["stats", "stats.json", *stacks], tmp_path)
    return measured


def _within(measured: float, estimate: float, what) -> None:
    assert measured <= estimate <= TOLERANCE * measured, (what, measured, estimate)


def test_estimates_bound_the_measured_peaks(tmp_path):
    """synth, align, masks and stats of 768 px images: measured with getrusage."""
    side = 768
    measured = _prepare(tmp_path, side)
    px = (side + 2) * (side + 3)
    for step, fp in {"synth": SYNTH, "align": ALIGN, "masks": MASKS, "stats": STATS}.items():
        _within(measured[step], fp.bytes(px) / 2**20, step)


@pytest.mark.slow
def test_train_and_predict_estimates_bound_their_measured_peaks(tmp_path):
    """A training that keeps two 1024 px images in memory, and a prediction of one."""
    side, ids = 1024, ("6010_0_0", "6010_0_1")
    _prepare(tmp_path, side, ids)
    settings = {"classes": [1, 2], "filters_base": 4, "epochs": 1, "batch_size": 8,
                "patches_per_epoch": 16, "in_memory": True, "valid_tile": 64,
                "n_channels": 12, "lr_decay_epochs": []}  # fmt: skip
    train = _peak_mib(["train", "--out", "m/model.pt", "--metrics", "m/metrics.csv",
                       "--checkpoint", "m/ck.ckpt", "--stats", "stats.json",
                       "--stacks-dir", "stacks", "--masks-dir", "masks", "--train-ids", *ids,
                       "--group", "g", "--variant", "all", "--settings",
                       json.dumps(settings), "--device", "cpu", "--threads", "1"],
                      tmp_path)  # fmt: skip
    predict = {"tile": 256, "shift_average": True, "shift_steps": 2}
    _peak_mib(["predictor", "m/model.pt", "m/predictor.pt", "--settings", json.dumps(predict),
               "--group", "g", "--variant", "all"], tmp_path)  # fmt: skip
    peak = _peak_mib(["predict", "m/predictor.pt", f"stacks/{ids[0]}.h5", "--out-dir", "p",
                      "--group", "g", "--variant", "all", "--device", "cpu", "--threads", "1"],
                     tmp_path)  # fmt: skip
    px = (side + 2) * (side + 3)
    _within(train, train_footprint(12 + 2, gpu=False).bytes(2 * px) / 2**20, "train")
    _within(peak, predict_footprint(12, 2, gpu=False).bytes(px) / 2**20, "predict")


def test_every_job_kind_is_estimated_for_the_demo():
    needs = job_needs(Plan(demo_config()))
    steps = {n.step for n in needs}
    assert steps == {"synth", "align", "masks", "stats", "predict"}
    fp = predict_footprint(12, 2, gpu=False)
    assert fp.per_px == 4 * 12 + 8 * 2


# ------------------------------------------------------------ dry runs, one line


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["groups"]["built"].update(epochs=-3), "config groups.built.epochs: -3 "),
        (lambda c: c.update(results="/"), "config results: / is the filesystem root"),
        (lambda c: c.update(validation_ids=[]), "config validation_ids: empty"),
        (lambda c: c["groups"].pop("water"), "config groups: classes [7, 8, 9, 10] are in no"),
        (
            lambda c: c["synthetic"].update(size=[6000, 6000]),
            "config synthetic.size: [6000, 6000] px images need about",
        ),
    ],
)
def test_dry_run_refuses_in_one_line(tmp_path, mutate, key):
    cfg = tiny_config()
    mutate(cfg)
    proc = snakemake(tmp_path, cfg, "-n", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("dstl-hpc: " + key), lines
