"""The real workflow through a real SLURM cluster (`snakemake --profile profiles/slurm-local`).

Needs the one-node cluster of `scripts/local-slurm.sh start` (docs/slurm.md). The tests
are skipped with the reason when it is not there, and fail instead when
DSTL_REQUIRE_SLURM=1 (CI, .ci/run).

A PATH shim in front of `sbatch` records the argv of every submission (one file per
call, NUL-separated), so the tests see exactly which jobs went through SLURM and with
which options. Two workflow runs are shared by the tests:

* `demo_run`: a tiny demo (one class group, train/predict asking for a GPU) with
  `--group-components preprocess=4 polygons=3`, then a second run that must do nothing.
* `timelimit_run`: one training of that workdir made to take ~1 minute under a 1-minute
  time limit with `--signal=USR1@10`: it checkpoints at the warning, exits 138, and the
  retry (runtime x attempt) resumes it.
"""

from __future__ import annotations

import copy
import csv
import gzip
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from dstl_hpc.config.plan import Plan
from tests.test_workflow import tiny_config

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "slurm-local"
REQUIRED = os.environ.get("DSTL_REQUIRE_SLURM") == "1"
LOCAL_SLURM_MARKER = "# Written by dstl_hpc scripts/local-slurm.sh"

GROUP = "built"  # the only class group of the test config
PREPROCESS_N, POLYGONS_N = 4, 3  # --group-components
# Time-limit run: runtime 1 min, USR1 warning. slurmctld checks limits and signals
# every 30 s and sends the warning at the first check at or after
# limit - warn - 30 s: with @10 it arrives 20-50 s into a 1-minute job (so the
# training, which needs ~8 s to start, always has its handler and makes progress),
# and 80-110 s into the 2-minute retry. A training of ~60 s is thus always cut in
# the first attempt and finished by the second (a third is there as a margin).
SIGNAL = "--signal=USR1@10"
TRAIN_SECONDS = 60
EPOCH_FRACTION = 2.5  # ~8 batches of 8 per epoch on the tiny dataset

pytestmark = pytest.mark.slurm


# ------------------------------------------------------------------ the cluster


def cluster_problem() -> str | None:
    """Why the tests cannot run here, or None."""
    start = "start it with: bash scripts/local-slurm.sh start (see docs/slurm.md)"
    if shutil.which("sbatch") is None:
        return f"sbatch is not on the PATH (apt-get install -y slurm-wlm munge, then {start})"
    if find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    conf = Path("/etc/slurm/slurm.conf")
    try:
        ours = conf.read_text().startswith(LOCAL_SLURM_MARKER)
    except OSError:
        ours = False
    if not ours:
        # Not the throw-away local cluster: do not queue test jobs on a real one.
        return f"{conf} is not the one-node cluster of scripts/local-slurm.sh; {start}"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t %G"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed ({exc}); {start}"
    if proc.returncode != 0:
        return f"the SLURM cluster is not up (sinfo: {proc.stderr.strip()}); {start}"
    nodes = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    usable = [n for n in nodes if n[0].rstrip("*~#") in ("idle", "mix", "alloc", "comp")]
    if not usable:
        return f"no usable SLURM node (sinfo: {proc.stdout.strip() or 'none'}); {start}"
    if not any("gpu" in " ".join(n[1:]) for n in usable):
        return "the SLURM node has no GPU GRES; restart it with: bash scripts/local-slurm.sh start"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem:
        if REQUIRED:
            pytest.fail(f"DSTL_REQUIRE_SLURM=1 but {problem}", pytrace=False)
        pytest.skip(problem)


# ------------------------------------------------------------------ sbatch calls


@dataclass
class Submission:
    argv: list[str]
    jobs: list[str] = field(default_factory=list)  # "rule:wildcards" from --target-jobs

    @property
    def rules(self) -> set[str]:
        return {j.split(":", 1)[0] for j in self.jobs}

    def option(self, name: str) -> str | None:
        return self.argv[self.argv.index(name) + 1] if name in self.argv else None

    @property
    def log_dir(self) -> str:
        """rule_<rule> or group_<group>_<rules> (the plugin's --output directory)."""
        out = self.option("--output") or ""
        return out.split("/slurm_logs/", 1)[-1].split("/", 1)[0]


def read_submissions(log_dir: Path) -> list[Submission]:
    subs = []
    for f in sorted(log_dir.iterdir(), key=lambda p: int(p.name.split("-")[0])):
        argv = [a.decode() for a in f.read_bytes().split(b"\0")[:-1]]
        sub = Submission(argv)
        wrap = next((a[len("--wrap=") :] for a in argv if a.startswith("--wrap=")), "")
        words = shlex.split(wrap)
        if "--target-jobs" in words:
            for w in words[words.index("--target-jobs") + 1 :]:
                if w.startswith("--"):
                    break
                sub.jobs.append(w)
        subs.append(sub)
    return subs


def write_shim(directory: Path) -> Path:
    real = shutil.which("sbatch")
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "sbatch"
    shim.write_text(
        "#!/bin/sh\n"
        "# test shim: record this call's argv, then submit for real\n"
        'printf \'%s\\0\' "$@" > "${DSTL_SBATCH_LOG:?}/$(date +%s%N)-$$"\n'
        f'exec {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o755)
    return directory


def cancel_jobs_of(log_dir: Path) -> None:
    """Cancel what a killed Snakemake left on the cluster (its run uuid is the job name)."""
    names = {s.option("--job-name") for s in read_submissions(log_dir)} - {None}
    for name in names:
        subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)


@dataclass
class Run:
    returncode: int
    output: str
    submissions: list[Submission]


def snakemake_slurm(workdir, cfg, name, *args, timeout) -> Run:
    """snakemake with the local profile in workdir, every sbatch call recorded."""
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    log_dir = workdir / "sbatch-calls" / name
    log_dir.mkdir(parents=True)
    shim = write_shim(workdir / "shim")
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    env["DSTL_SBATCH_LOG"] = str(log_dir)
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(cfg_path),
        "--profile", str(PROFILE), *args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        cancel_jobs_of(log_dir)
        raise AssertionError(f"snakemake ran over {timeout} s:\n{out[-8000:]}") from None
    (workdir / f"snakemake-{name}.log").write_text(out)
    return Run(proc.returncode, out, read_submissions(log_dir))


def check(run: Run) -> Run:
    if run.returncode != 0:
        raise AssertionError(f"snakemake failed ({run.returncode}):\n{run.output[-8000:]}")
    return run


def job_stats(output: str) -> dict[str, int]:
    """The first 'Job stats' table of a Snakemake run: jobs per rule."""
    text = output[output.index("Job stats:") :]
    counts = {}
    for line in text.splitlines()[3:]:
        m = re.match(r"(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


# ------------------------------------------------------------------ the runs


def demo_config() -> dict:
    cfg = tiny_config()
    cfg["groups"] = {GROUP: {"classes": [1, 2]}}  # few jobs: each costs ~8 s here
    cfg["unmodelled_classes"] = list(range(3, 11))  # submitted empty, on purpose
    cfg["defaults"]["train_resources"]["gpu"] = 1
    cfg["defaults"]["predict_resources"]["gpu"] = 1
    # The local cluster's GPU is fake: run on the CPU (a real GPU job gets --device cuda).
    cfg["defaults"]["train_resources"]["device"] = "auto"
    cfg["defaults"]["predict_resources"]["device"] = "auto"
    return cfg


@pytest.fixture(scope="module")
def demo_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    cfg = demo_config()
    first = check(
        snakemake_slurm(
            workdir, cfg, "first",
            "--group-components", f"preprocess={PREPROCESS_N}", f"polygons={POLYGONS_N}",
            timeout=900,
        )
    )  # fmt: skip
    second = check(snakemake_slurm(workdir, cfg, "second", timeout=300))
    return workdir, cfg, first, second


def test_every_nonlocal_job_went_through_sbatch(demo_run):
    _, _, first, _ = demo_run
    dag = job_stats(first.output)
    local = set(re.findall(r"^localrule (\w+):", first.output, re.M))
    assert local == {
        r for r in dag if r in ("all", "predictor", "classes") or r.startswith("report_")
    }
    expected = {rule: n for rule, n in dag.items() if rule not in local}
    assert {"synth", "align", "masks", "train", "predict", "polygonize", "merge"} <= set(expected)
    jobs = [j for s in first.submissions for j in s.jobs]
    assert len(jobs) == len(set(jobs)), "a job was submitted twice"
    assert dict(Counter(j.split(":", 1)[0] for j in jobs)) == expected
    assert all(s.log_dir.startswith(("rule_", "group_")) for s in first.submissions)


def test_gpu_rules_asked_for_a_gpu(demo_run):
    _, _, first, _ = demo_run
    gpu = [s for s in first.submissions if s.rules & {"train", "predict"}]
    assert {r for s in gpu for r in s.rules} == {"train", "predict"}
    for s in gpu:
        assert "--gpus=1" in s.argv, s.argv
    for s in first.submissions:
        if s not in gpu:
            assert not any(a.startswith(("--gpus", "--gres")) for a in s.argv), s.argv


def test_submission_and_scores_exist(demo_run):
    workdir, _, _, _ = demo_run
    res = workdir / "results"
    scores = json.loads((res / "validation/scores.json").read_text())
    assert set(scores["per_class"]) == {str(k) for k in range(1, 11)}
    assert {k for k, v in scores["per_class"].items() if v is not None} <= {"1", "2"}
    with gzip.open(res / "submission.csv.gz", "rt") as fh:
        rows = list(csv.reader(fh))
    with open(res / "data/sample_submission.csv") as fh:
        sample = list(csv.reader(fh))
    assert [r[:2] for r in rows] == [r[:2] for r in sample]


def test_second_run_does_nothing(demo_run):
    _, _, _, second = demo_run
    assert "Nothing to be done" in second.output
    assert second.submissions == []


def test_group_jobs_are_bundled(demo_run):
    _, _, first, _ = demo_run
    dag = job_stats(first.output)
    for group, rules, n in (
        ("preprocess", {"align", "masks"}, PREPROCESS_N),
        ("polygons", {"polygonize"}, POLYGONS_N),
    ):
        subs = [s for s in first.submissions if s.log_dir.startswith(f"group_{group}_")]
        # align and masks of one image are independent: each job is one component
        components = sum(dag[r] for r in rules)
        assert len(subs) == math.ceil(components / n), [s.jobs for s in subs]
        assert sum(len(s.jobs) for s in subs) == components
        assert {r for s in subs for r in s.rules} == rules
        assert all(len(s.jobs) <= n for s in subs)
        assert len(subs) < components  # bundled
        singles = [s for s in first.submissions if s.rules & rules and s not in subs]
        assert not singles, [s.jobs for s in singles]


# ------------------------------------------------------------------ time limit


def seconds_per_epoch(workdir: Path, cfg: dict) -> float:
    """Time one epoch of the time-limit training on this machine (1 thread, CPU)."""
    plan = Plan(cfg)
    res = workdir / "results"
    cal = workdir / "calibration"
    settings = dict(plan.train_settings(GROUP), epochs=3, epoch_fraction=EPOCH_FRACTION)
    cmd = [
        sys.executable, "-m", "dstl_hpc", "train",
        "--out", str(cal / "model.pt"), "--metrics", str(cal / "metrics.csv"),
        "--checkpoint", str(cal / "ckpt"), "--stats", str(res / "stats.json"),
        "--stacks-dir", *map(str, sorted((res / "stacks").glob("part*"))),
        "--masks-dir", str(res / "masks"),
        "--train-ids", *plan.fit_ids("all"), "--group", GROUP, "--variant", "all",
        "--settings", json.dumps(settings), "--threads", "1", "--device", "cpu",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, cwd=ROOT)
    with open(cal / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    return min(float(r["seconds"]) for r in rows[1:])  # epoch 1 pays the warm-up


@pytest.fixture(scope="module")
def timelimit_run(demo_run):
    workdir, cfg, _, _ = demo_run
    epochs = max(5, min(1000, math.ceil(TRAIN_SECONDS / seconds_per_epoch(workdir, cfg))))
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"][GROUP].update(
        epochs=epochs,
        epoch_fraction=EPOCH_FRACTION,
        train_resources={"runtime": 1, "slurm_extra": SIGNAL},  # minutes, x attempt
    )
    model = f"results/models/all/{GROUP}/model.pt"
    run = check(snakemake_slurm(workdir, cfg2, "timelimit", model, "--retries", "3", timeout=600))
    return workdir, epochs, run


def test_time_limit_checkpoints_and_the_retry_resumes(timelimit_run):
    workdir, epochs, run = timelimit_run
    res = workdir / "results"
    trains = [s for s in run.submissions if s.rules == {"train"}]
    assert [s.jobs for s in run.submissions] == [[f"train:variant=all,group={GROUP}"]] * len(trains)
    assert len(trains) >= 2, "the training was not cut by its time limit"
    # runtime (minutes) grows with the attempt; every attempt gets the warning
    assert [s.option("-t") for s in trains] == [str(a) for a in range(1, len(trains) + 1)]
    assert all(SIGNAL in s.argv and "--gpus=1" in s.argv for s in trains)
    # memory does not grow with the attempt: a time limit needs time, not memory
    assert len({s.option("--mem") for s in trains}) == 1, [s.option("--mem") for s in trains]
    log = (res / f"logs/train/all/{GROUP}.log").read_text()  # the last attempt's log
    m = re.search(r"resuming from checkpoint \S+: (\d+) epoch\(s\) done", log)
    assert m, log[-3000:]
    done = int(m.group(1))
    logged = [int(e) for e in re.findall(r" epoch (\d+)/\d+ loss", log)]
    assert logged == list(range(done + 1, epochs + 1)), "the retry redid finished epochs"
    with open(res / f"models/all/{GROUP}/metrics.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == list(range(1, epochs + 1))
    assert not (res / f"checkpoints/all/{GROUP}.ckpt").exists()
    # The cut attempt ended with the training's own exit code (138: checkpoint written
    # after SIGUSR1), not with the rule's bash killed by the signal while the training
    # may still be writing (the rule must `exec` the training; docs/slurm.md).
    assert "died with <Signals.SIGUSR1" not in run.output, "the rule's shell died of SIGUSR1"
    assert "non-zero exit status 138" in run.output
