"""Ready for a real GPU cluster: GPU jobs run with --device cuda and stop at once
without CUDA; gres reaches the executor; retries grow runtime, not memory."""

import re
import subprocess
import sys
import time

import pytest
import torch
import yaml
from test_plan import demo_config
from test_workflow import ROOT, snakemake, tiny_config

from dstl_hpc.config.plan import Plan
from dstl_hpc.device import cuda_problem, resolve_device
from dstl_hpc.errors import DstlError

NO_CUDA = cuda_problem(torch) is not None


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("step", ["train", "predict"])
def test_device_cuda_without_cuda_exits_2_at_once_with_one_line(tmp_path, step):
    argv = {
        "train": ["train", "--out", tmp_path / "m.pt", "--metrics", tmp_path / "m.csv",
                  "--checkpoint", tmp_path / "c.ckpt", "--stats", tmp_path / "stats.json",
                  "--stacks-dir", tmp_path, "--masks-dir", tmp_path, "--train-ids", "a",
                  "--group", "g", "--variant", "all", "--settings", '{"classes": [1]}'],
        "predict": ["predict", tmp_path / "m.pt", tmp_path / "s.h5", tmp_path / "o.h5"],
    }[step]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dstl_hpc", *map(str, argv), "--device", "cuda"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dstl-hpc {step}: error: --device cuda: ")
    assert "CPU-only build" in lines[0] or "sees no GPU" in lines[0]
    assert time.perf_counter() - start < 60  # before any data is read
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_auto_falls_back_to_the_cpu_and_bad_names_are_refused():
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(DstlError, match="expected one of auto, cpu, cuda"):
        resolve_device("gpu")


def test_the_real_config_runs_gpu_steps_with_device_cuda(tmp_path):
    from test_plan import fake_layout
    from test_safety_config import dstl_config

    data = tmp_path / "dstl"
    data.mkdir()
    ids = ("6140_3_1", "6110_1_2", "6160_2_1", "6170_0_4", "6100_2_2", "6010_1_2")
    fake_layout(data, train=ids, test=("6020_0_0",))
    cfg = dstl_config(data, tmp_path / "results")
    plan = Plan(cfg)
    assert {plan.device(g, k) for g in plan.groups for k in ("train", "predict")} == {"cuda"}
    (tmp_path / "dstl.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
         "--configfile", str(tmp_path / "dstl.yaml"), "-n", "-p", "--cores", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = [line for line in proc.stdout.splitlines() if "python -m dstl_hpc " in line]
    gpu_steps = [c for c in commands if re.search(r"dstl_hpc (train|predict) ", c)]
    # 7 groups, 2 variants, one part each; the vehicles train 3 members (the seed's vote)
    assert len(gpu_steps) == 2 * (7 + 2) + 2 * 7
    assert all("--device cuda" in c for c in gpu_steps)


def test_device_defaults_and_overrides():
    cfg = demo_config()
    plan = Plan(cfg)
    assert plan.device("roads", "train") == "auto"  # the demo asks for no GPU
    cfg["groups"]["roads"]["train_resources"] = {"gres": "gpu:a100:1"}
    cfg["groups"]["water"]["predict_resources"] = {"gpu": 1, "device": "cpu"}
    plan = Plan(cfg)
    assert plan.device("roads", "train") == "cuda" and plan.device("roads", "predict") == "auto"
    assert plan.device("water", "predict") == "cpu"


def test_gpu_and_gres_together_are_refused():
    cfg = demo_config()
    cfg["groups"]["roads"]["train_resources"] = {"gpu": 1, "gres": "gpu:1"}
    with pytest.raises(DstlError, match="both ask for GPUs"):
        Plan(cfg)


def test_gres_and_memory_reach_the_executor(tmp_path):
    # (retries: tests/test_slurm.py checks that --mem stays while -t grows)
    cfg = tiny_config()
    cfg["defaults"]["train_resources"].update(gres="gpu:a100:1", device="cpu", mem_mb=7000)
    cfg["defaults"]["predict_resources"].update(gres="gpu:1", device="cpu")
    proc = snakemake(tmp_path, cfg, "-n", "--until", "train")
    text = proc.stdout + proc.stderr
    trains = re.findall(r"rule train:.*?resources: ([^\n]*)", text, re.S)
    assert trains and all("gres=gpu:a100:1" in r and "mem_mb=7000" in r for r in trains)


def test_bad_gres_is_refused_by_the_schema(tmp_path):
    cfg = tiny_config()
    cfg["defaults"]["train_resources"]["gres"] = "gpu:1; rm -rf /"
    proc = snakemake(tmp_path, cfg, "-n", check=False)
    assert proc.returncode != 0 and "gres" in proc.stdout + proc.stderr
