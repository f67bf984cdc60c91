"""The workflow never writes into, deletes or changes the user's data directory, and
never executes a path: the documented commands are run against a data directory
whose every file is checksummed before and after."""

import csv
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_workflow import tiny_config

from dstl_hpc.sources.synthetic import generate

ROOT = Path(__file__).resolve().parent.parent
# A name a shell would split, unquote or execute: a space, quotes, ';', $( ) and backticks.
NASTY = "my data 'x' \"y\"; touch CANARY1 $(touch CANARY2) `touch CANARY3`"


def checksums(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def snakemake(workdir, *args):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--cores", "1", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """A DSTL-layout directory of the user's (synthetic content, real ids)."""
    root = tmp_path_factory.mktemp("user") / NASTY
    generate(root, n_images=6, n_train=4, size=(160, 160), seed=1)
    (root / "notes.txt").write_text("the user's own file\n")
    return root


def tiny_dstl_config(data_dir, results):
    cfg = tiny_config(str(results))
    cfg["data"] = {"source": "dstl", "dir": str(data_dir)}
    train = [r[0] for r in csv.reader((Path(data_dir) / "train_wkt_v4.csv").open())][1:]
    cfg["validation_ids"] = list(dict.fromkeys(train))[-2:]
    return cfg


@pytest.mark.parametrize(
    "args, message",
    [
        # The README's demo command with the data_dir shortcut but no --configfile.
        (lambda d, w: ["--config", f"data_dir={d}"], "--configfile config/dstl.yaml"),
        (lambda d, w: ["-n", "--config", f"data_dir={d}"], "--configfile config/dstl.yaml"),
        # The real-data command with results inside the data directory.
        (
            lambda d, w: [
                "--configfile",
                str(ROOT / "config/dstl.yaml"),
                "--config",
                f"data_dir={d}",
                f"results={d}/results",
            ],  # fmt: skip
            "inside the data directory",
        ),
        (
            lambda d, w: [
                "--configfile",
                str(ROOT / "config/dstl.yaml"),
                "--config",
                f"data_dir={d}",
                f"results={d}",
            ],  # fmt: skip
            "inside the data directory",
        ),
        # A synthetic config file that names a data directory.
        (lambda d, w: ["--configfile", str(w / "synthetic.yaml")], "data.source is synthetic"),
    ],
)
def test_commands_that_would_touch_the_data_are_refused_before_any_job(
    user_data, tmp_path, args, message
):
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["data"]["dir"] = str(user_data)
    (tmp_path / "synthetic.yaml").write_text(yaml.safe_dump(cfg))
    before = checksums(user_data)
    proc = snakemake(tmp_path, *args(user_data, tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dstl-hpc: ") and message in lines[0]
    assert checksums(user_data) == before
    assert not (tmp_path / "results").exists()


def test_dry_run_of_the_real_config_leaves_the_data_alone(user_data, tmp_path):
    before = checksums(user_data)
    cfg = yaml.safe_load((ROOT / "config/dstl.yaml").read_text())
    cfg["validation_ids"] = tiny_dstl_config(user_data, "r")["validation_ids"]
    (tmp_path / "dstl.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(
        tmp_path, "-n", "--configfile", str(tmp_path / "dstl.yaml"), "--config",
        f"data_dir={user_data}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "synth" not in proc.stdout.split("Job stats:")[1].split("\n\n")[0]
    assert checksums(user_data) == before


@pytest.mark.slow
def test_nasty_paths_run_end_to_end_and_nothing_is_executed(user_data, tmp_path):
    """Data and results paths with a space, quotes, ';', $( ) and backticks: the whole
    tiny workflow completes, the user's data is untouched, no command ran from a path."""
    before = checksums(user_data)
    work = tmp_path / "work"
    work.mkdir()
    results = tmp_path / f"results {NASTY}"
    cfg_path = work / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_dstl_config(user_data, results)))
    proc = snakemake(work, "--configfile", str(cfg_path))
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert checksums(user_data) == before
    scores = json.loads((results / "validation/scores.json").read_text())
    assert set(scores["per_class"]) == {str(k) for k in range(1, 11)}
    with gzip.open(results / "submission.csv.gz", "rt") as fh:
        rows = list(csv.reader(fh))
    with open(user_data / "sample_submission.csv") as fh:
        assert [r[:2] for r in rows] == [r[:2] for r in csv.reader(fh)]
    canaries = [p for p in (tmp_path, work, ROOT, Path.cwd()) for p in p.rglob("CANARY*")]
    assert canaries == []
    # The second run has nothing to do: the odd names round-trip through Snakemake.
    again = snakemake(work, "--configfile", str(cfg_path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
