"""The demo's scores and run time: the figures the README quotes.

Runs the embedded default (`snakemake --cores N`, synthetic data) in a fresh work
directory, timed, then records the held-out and tuned validation scores and the test
scores per class:

    python benchmarks/demo.py [--cores 2] [--workdir /tmp/dstl-demo]

Writes benchmarks/results/demo.json. `benchmarks/demo_seeds.py` runs the same demo
over several seeds with `run_demo` and `demo_scores`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rounded(per_class: dict) -> dict:
    return {k: (None if v is None else round(v, 4)) for k, v in per_class.items()}


def run_demo(work: Path, cores: str, extra: list[str] = ()) -> float:
    """Run the demo's Snakemake in ``work`` (``extra``: more Snakemake arguments, e.g.
    ``--configfile`` of a few keys); its seconds. Snakemake's log goes to
    ``work/demo_snakemake.log``; SystemExit when it fails. The package is this
    checkout's, also when the checkout is a copy (a snapshot of a tree in flux)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(work), "--cores", cores, *extra]  # fmt: skip
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}
    )
    seconds = time.perf_counter() - start
    (work / "demo_snakemake.log").write_text(proc.stderr)
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"snakemake failed in {work}")
    return seconds


def demo_scores(work: Path) -> dict:
    """The held-out and tuned validation scores and the test scores of a finished demo
    in ``work``, per class (rounded) and their means."""
    res = work / "results"
    valid = json.loads((res / "validation/scores.json").read_text())
    test = json.loads((res / "test/scores.json").read_text())
    return {
        "validation_images": valid["images"],
        "validation_held_out_mean": valid["mean"],
        "validation_tuned_mean": valid["mean_tuned"],
        "validation_held_out": rounded(valid["per_class"]),
        "validation_tuned": rounded(valid["per_class_tuned"]),
        "test_images": test["images"],
        "test_mean": test["mean"],
        "test": rounded(test["per_class"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", default="2")
    ap.add_argument("--workdir", default="/tmp/dstl-demo")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/demo.json"))
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    seconds = run_demo(work, args.cores)
    out = {
        "command": f"snakemake --cores {args.cores} (default config)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "seconds": round(seconds, 1),
        **demo_scores(work),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
