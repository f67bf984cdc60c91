"""The demo's scores over several random seeds: each seed's, and their min, max and mean.

Runs the embedded default (`snakemake --cores N`, synthetic data; `benchmarks/demo.py`'s
`run_demo`) once per seed, each in its own work directory (WORKDIR/seed{S}), with a
config file of a few keys that sets the seed:

    python benchmarks/demo_seeds.py [--seeds 0 1 2] [--vary training|data|both]
                                    [--cores all] [--workdir /tmp/dstl-demo-seeds]

--vary training (the default) sets `defaults.seed`: the networks' initialisation and
their patches change, the synthetic images do not (the random seed alone); data sets
`synthetic.seed` (other images, the same training seed); both sets the two.

Resumable: a seed already in --out (run with the same --vary) is not run again
(--force reruns it), and a seed's work directory left by an interrupted run is
continued by Snakemake. --out is rewritten after each seed.

Writes benchmarks/results/demo_seeds.json: per seed the held-out and tuned validation
polygon Jaccard and the test score, per class and their means; then, per class and for
the means, the min, max and mean over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import ROOT, demo_scores, run_demo  # noqa: E402

# --vary: the config keys a seed is written to
SEED_KEYS = {
    "training": (("defaults", "seed"),),
    "data": (("synthetic", "seed"),),
    "both": (("defaults", "seed"), ("synthetic", "seed")),
}
# the figures of a seed that are summarised: per class, and their mean
FIGURES = {
    "validation_held_out": "validation_held_out_mean",
    "validation_tuned": "validation_tuned_mean",
    "test": "test_mean",
}


def seed_config(seed: int, vary: str) -> dict:
    """The few keys that set ``seed`` (merged into the demo config by the Snakefile)."""
    cfg: dict = {}
    for section, key in SEED_KEYS[vary]:
        cfg.setdefault(section, {})[key] = seed
    return cfg


def spread(values: list) -> dict | None:
    """min, max, mean and max - min of the defined values (None: none defined)."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    lo, hi = min(got), max(got)
    return {
        "min": round(lo, 4),
        "max": round(hi, 4),
        "mean": round(sum(got) / len(got), 4),
        "range": round(hi - lo, 4),
        "n": len(got),
    }


def summary(seeds: dict[str, dict]) -> dict:
    """Per figure: the spread of its mean and of each class over the seeds."""
    runs = list(seeds.values())
    out = {}
    for per_class, mean in FIGURES.items():
        classes = list(dict.fromkeys(k for r in runs for k in r[per_class]))
        out[per_class] = {
            "mean": spread([r[mean] for r in runs]),
            "per_class": {k: spread([r[per_class].get(k) for r in runs]) for k in classes},
        }
    return out


def code_version() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return proc.stdout.strip() or "unknown"


def write(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--vary", choices=list(SEED_KEYS), default="training",
                    help="which seed changes (default: training, defaults.seed)")  # fmt: skip
    ap.add_argument("--cores", default="all")
    ap.add_argument("--workdir", default="/tmp/dstl-demo-seeds")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/demo_seeds.json"))
    ap.add_argument("--force", action="store_true", help="rerun seeds already in --out")
    ap.add_argument("--code", help="what code runs (default: git describe of this checkout)")
    args = ap.parse_args()
    out_path = Path(args.out)
    old = json.loads(out_path.read_text()) if out_path.exists() else {}
    keys = [".".join(k) for k in SEED_KEYS[args.vary]]
    done = old.get("seeds", {}) if old.get("seed_keys") == keys and not args.force else {}
    seeds = {s: done[s] for s in map(str, args.seeds) if s in done}
    root = Path(args.workdir)
    for seed in args.seeds:
        if str(seed) in seeds:
            print(f"seed {seed}: in {out_path}, not rerun", flush=True)
            continue
        work = root / f"seed{seed}"
        if args.force:
            shutil.rmtree(work, ignore_errors=True)
        resumed = work.exists()
        work.mkdir(parents=True, exist_ok=True)
        cfg_path = work / "seed_config.yaml"
        cfg_path.write_text(yaml.safe_dump(seed_config(seed, args.vary), sort_keys=False))
        seconds = run_demo(work, args.cores, ["--configfile", str(cfg_path)])
        seeds[str(seed)] = {
            "seconds": round(seconds, 1),
            "resumed": resumed,
            "code": args.code or code_version(),
            "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
            **demo_scores(work),
        }
        s = seeds[str(seed)]
        print(
            f"seed {seed}: held out {s['validation_held_out_mean']:.4f}, "
            f"tuned {s['validation_tuned_mean']:.4f}, test {s['test_mean']:.4f} "
            f"in {seconds:.0f} s",
            flush=True,
        )
        write(out_path, result(args, keys, seeds))
    result_obj = result(args, keys, seeds)
    write(out_path, result_obj)
    print(json.dumps({k: v["mean"] for k, v in result_obj["summary"].items()}, indent=1))
    return 0


def result(args, keys: list[str], seeds: dict[str, dict]) -> dict:
    ordered = dict(sorted(seeds.items(), key=lambda kv: int(kv[0])))
    return {
        "command": "python benchmarks/demo_seeds.py " + " ".join(sys.argv[1:]),
        "snakemake": f"snakemake --cores {args.cores} --configfile SEED_CONFIG (the default "
        "demo config with the seed keys set)",
        "seed_keys": keys,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work: "
        "seconds are not timings)",
        "scores": "validation_held_out: each validation image scored at the thresholds "
        "swept on the other (leave one image out); validation_tuned: swept and scored on "
        "both; test: the all variant's submission on the synthetic test ids; polygon "
        "Jaccard per class, null where undefined (no truth and no prediction)",
        "seeds": ordered,
        "summary": summary(ordered),
    }


if __name__ == "__main__":
    raise SystemExit(main())
