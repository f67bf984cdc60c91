"""Options beyond the seed, each on and off: held-out validation scores per class.

Every variant is the demo config (config/config.yaml) with one change (VARIANTS), run
as `snakemake results/validation/scores.json --cores N --configfile CFG --directory DIR`
with `variants: [validation]` (the held-out score needs nothing else; a change that
adds the `all` variant also gets the synthetic test set's true scores, test/scores.json).
A variant is compared with its baseline: the variant that changes only the same
reference keys (REFERENCE: which synthetic data, which workflow variants) and nothing
else. All variants share the seeds and, per kind of synthetic data, the data: synth,
align, masks and stats run once per kind (`prep`, timed apart; a mosaic prediction
aligns its neighbours' stacks in its own run) and each variant starts from a copy of
that work directory, or of a finished variant's (REUSE) whose trained models its change
leaves as they are: Snakemake then reruns only what the change touches (its `jobs`).

    python benchmarks/beyond.py [--variants NAME ...] [--merge] [--cores 2] [--epochs N]
                                [--workdir /tmp/dstl-beyond] [--out PATH]

(--merge keeps the variants of an existing --out that are not run now.)

Writes benchmarks/results/beyond.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VALID_SCORES = "results/validation/scores.json"
TEST_SCORES = "results/test/scores.json"
MOSAIC_DATA = {"synthetic": {"mosaic": True}}
WITH_TEST = {"variants": ["validation", "all"]}
# Config keys that make a reference rather than an option.
REFERENCE = ("synthetic", "variants")

# name -> change to the demo config (merged into it key by key). A variant's baseline
# is the variant whose change is only its REFERENCE part ({}: "baseline").
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "indices_ndwi_ndvi": {"defaults": {"indices": ["ndwi", "ndvi"]}},
    "ensemble_mean3": {"defaults": {"members": 3, "ensemble": "mean"}},
    "ensemble_median3": {"defaults": {"members": 3, "ensemble": "median"}},
    # seed-to-seed spread of the baseline: how large a change noise alone makes
    "seed1": {"defaults": {"seed": 1}},
    "seed2": {"defaults": {"seed": 2}},
    "mosaic_data": {**MOSAIC_DATA},
    "mosaic_data_mosaic_predict": {**MOSAIC_DATA, "defaults": {"mosaic": True}},
    # water: the ndwi index (no training) as a second candidate for classes 7 and 8,
    # chosen per class on validation against the network (the 3rd place's trick)
    "water_ndwi_choice": {"groups": {"water_index": {"classes": [7, 8], "model": "ndwi"}}},
}
# The best-checkpoint option, where the schema has it. It chooses each class's epoch on
# the validation images, which the held-out score is then computed on (optimistic), so
# it is also scored on the synthetic test set, with the all variant, against a baseline
# that does the same.
BEST_CHECKPOINT = {
    "checkpoint_best": {"defaults": {"checkpoint": "best"}},
    "baseline_test": {**WITH_TEST},
    "checkpoint_best_test": {**WITH_TEST, "defaults": {"checkpoint": "best"}},
}

# variant -> finished variant whose work directory it starts from (when both run): the
# change leaves that one's trained models as they are (member 0 of an ensemble is the
# baseline's model; ensemble, mosaic and checkpoint are prediction settings), so the
# variants differ by the option alone. Its seconds are then those of what it reran.
REUSE = {
    "ensemble_mean3": "baseline",
    "ensemble_median3": "ensemble_mean3",
    "mosaic_data_mosaic_predict": "mosaic_data",
    "checkpoint_best": "baseline",
    "water_ndwi_choice": "baseline",
    "baseline_test": "baseline",
    "checkpoint_best_test": "baseline_test",
}


def has_best_checkpoint() -> bool:
    from dstl_hpc.config.schema import config_schema

    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and "checkpoint" in props:
                found.append(props["checkpoint"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config_schema())
    return any("best" in json.dumps(s) for s in found)


def all_variants() -> dict[str, dict]:
    variants = dict(VARIANTS)
    if has_best_checkpoint():
        variants.update(BEST_CHECKPOINT)
    return variants


def merged(base: dict, change: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def reference_part(change: dict) -> dict:
    return {k: change[k] for k in REFERENCE if k in change}


def data_kind(change: dict) -> str:
    return "mosaic" if change.get("synthetic", {}).get("mosaic") else "default"


def baseline_of(name: str, variants: dict[str, dict]) -> str | None:
    want = reference_part(variants[name])
    if variants[name] == want:
        return None
    return next((other for other, change in variants.items() if change == want), None)


def run_order(names: list[str], variants: dict[str, dict], have=()) -> list[str]:
    """``names`` with their baselines added (unless in ``have``: already scored), each
    after its baseline and reuse source."""
    wanted = list(names)
    for n in names:
        b = baseline_of(n, variants)
        if b is not None and b not in wanted and b not in have:
            wanted.append(b)
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        for dep in (baseline_of(n, variants), REUSE.get(n)):
            if dep in wanted:
                visit(dep)
        order.append(n)

    for n in [v for v in variants if v in wanted]:
        visit(n)
    return order


def demo_config(epochs: int | None) -> dict:
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["variants"] = ["validation"]
    if epochs is not None:
        d = cfg["defaults"]
        scale = epochs / d["epochs"]
        d["lr_decay_epochs"] = [max(1, round(e * scale)) for e in d["lr_decay_epochs"]]
        d["epochs"] = epochs
    return cfg


def training_of(cfg: dict, epochs: int | None) -> dict:
    d = cfg["defaults"]
    return {
        "epochs": d["epochs"],
        "lr_decay_epochs": d["lr_decay_epochs"],
        "epochs_override": epochs,
        "seed": d["seed"],
        "synthetic_seed": cfg["synthetic"]["seed"],
    }


def job_counts(stderr: str) -> dict[str, int]:
    """The rules Snakemake ran and how often (its last "Job stats" table)."""
    counts: dict[str, int] = {}
    tables = stderr.split("Job stats:")
    if len(tables) < 2:
        return counts
    for line in tables[-1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def snakemake(work: Path, cfg: dict, cores: str, targets: list[str], extra: list[str]):
    cfg_path = work / "beyond_config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(ROOT / "Snakefile"),
           "--directory", str(work), "--cores", cores, "--configfile", str(cfg_path),
           *extra]  # fmt: skip
    # this checkout's package, also when it is a copy (a snapshot of a tree in flux)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}
    )
    seconds = time.perf_counter() - start
    (work / "beyond_snakemake.log").write_text(proc.stderr)
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"snakemake failed in {work}")
    return seconds, job_counts(proc.stderr)


def code_version() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return proc.stdout.strip() or "unknown"


def rounded(per_class: dict) -> dict:
    return {k: (None if v is None else round(v, 4)) for k, v in per_class.items()}


def delta(a: dict, b: dict) -> dict:
    return {k: (None if a.get(k) is None or b.get(k) is None else round(a[k] - b[k], 4)) for k in a}


def scores_of(path: Path, tuned: bool) -> dict:
    s = json.loads(path.read_text())
    out = {"mean": round(s["mean"], 4), "per_class": rounded(s["per_class"])}
    if tuned:
        out["tuned_mean"] = round(s["mean_tuned"], 4)
        out["tuned"] = rounded(s["per_class_tuned"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=None, help="names (default: all)")
    ap.add_argument("--cores", default="2")
    ap.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs of every variant (lr_decay_epochs scaled alike); default: the demo's",
    )
    ap.add_argument("--workdir", default="/tmp/dstl-beyond")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/beyond.json"))
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the variants of an existing --out that are not run now (a baseline "
        "found there is not rerun unless named); runs lists each invocation",
    )
    args = ap.parse_args()

    load_before = os.getloadavg()
    variants = all_variants()
    unknown = [n for n in args.variants or [] if n not in variants]
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {list(variants)}")
    base_cfg = demo_config(args.epochs)
    old = {"runs": [], "variants": {}}
    if args.merge and Path(args.out).exists():
        old = json.loads(Path(args.out).read_text())
        if old["training"] != training_of(base_cfg, args.epochs):
            ap.error(f"--merge: {args.out} was trained otherwise: {old['training']}")
    names = run_order(args.variants or list(variants), variants, have=old["variants"])
    code = code_version()
    root = Path(args.workdir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    prep: dict[str, dict] = {}
    for kind in dict.fromkeys(data_kind(variants[n]) for n in names):
        work = root / f"prep_{kind}"
        work.mkdir()
        cfg = merged(base_cfg, MOSAIC_DATA if kind == "mosaic" else {})
        seconds, jobs = snakemake(work, cfg, args.cores, [VALID_SCORES], ["--omit-from", "train"])
        prep[kind] = {"seconds": round(seconds, 1), "jobs": jobs}
        print(f"prep {kind}: {seconds:.0f} s {jobs}", flush=True)

    results: dict[str, dict] = {}
    for name in names:
        change = variants[name]
        cfg = merged(base_cfg, change)
        test = "all" in cfg["variants"]
        work = root / name
        source = REUSE.get(name) if REUSE.get(name) in results else None
        start_from = source or f"prep_{data_kind(change)}"
        shutil.copytree(root / start_from, work, symlinks=True)
        shutil.rmtree(work / ".snakemake/locks", ignore_errors=True)
        targets = [VALID_SCORES, *([TEST_SCORES] if test else [])]
        seconds, jobs = snakemake(work, cfg, args.cores, targets, [])
        redone = sorted({"synth", "masks", "stats"} & set(jobs))
        if redone:
            raise SystemExit(f"{name}: the shared data was redone ({redone}): not comparable")
        r = {
            "change": change,
            "baseline": baseline_of(name, variants),
            "started_from": start_from,
            "seconds": round(seconds, 1),
            "jobs": jobs,
            "validation": scores_of(work / VALID_SCORES, tuned=True),
        }
        if test:
            r["test"] = scores_of(work / TEST_SCORES, tuned=False)
        r["code"] = code
        before = old["variants"].get(name)
        if before and before["validation"]["mean"] != r["validation"]["mean"]:
            print(f"{name}: held out {before['validation']['mean']} before", flush=True)
            r["replaced_validation_mean"] = before["validation"]["mean"]
        results[name] = r
        print(f"{name}: held out {r['validation']['mean']} in {seconds:.0f} s {jobs}", flush=True)

    ran = list(results)
    everything = {**old["variants"], **results}
    results = {n: everything[n] for n in [*variants, *everything] if n in everything}
    for r in results.values():
        b = results.get(r["baseline"]) if r["baseline"] else None
        if b is None:
            continue
        for part, keys in (("validation", ("", "tuned_")), ("test", ("",))):
            if part not in r:
                continue
            got, ref = r[part], b[part]
            for k in keys:
                got[f"{k}mean_delta"] = round(got[f"{k}mean"] - ref[f"{k}mean"], 4)
                per = "per_class" if k == "" else "tuned"
                got[f"{per}_delta"] = delta(got[per], ref[per])

    valid = json.loads((root / names[0] / VALID_SCORES).read_text())
    run = {
        "command": "python benchmarks/beyond.py " + " ".join(sys.argv[1:]),
        "code": code,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_1_5_15_min": {
            "start": [round(x, 2) for x in load_before],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
        "prep": prep,
        "variants": ran,
    }
    out = {
        "command": "python benchmarks/beyond.py [--variants NAME ...] [--merge]",
        "snakemake": "snakemake results/validation/scores.json [results/test/scores.json] "
        f"--cores {args.cores} --configfile CFG --directory DIR",
        "config": "config/config.yaml with variants: [validation] and each variant's change",
        "training": training_of(base_cfg, args.epochs),
        "validation_images": valid["images"],
        "scores": "validation.per_class: held out, each validation image scored with the "
        "threshold swept on the other (leave one image out); tuned: swept and scored on "
        "both; test.per_class: the all variant's submission on the synthetic test ids "
        "(thresholds swept on validation)",
        "seconds": "the variant's own snakemake run; started from a finished variant, only "
        "what its change reran (jobs); the 2 CPUs were shared with other work (load)",
        "runs": [*old["runs"], run],
        "variants": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({n: r["validation"]["mean"] for n, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
