"""Time a dry run of the full DSTL DAG (450 ids, 7 groups, 2 variants).

Builds a DSTL-size dataset *description* in a temporary directory: the real
CSV files (25 training ids with the seed's 5 validation ids, 429 test ids in
the sample submission, grid sizes for all), tiny RGB TIFFs (the dry run reads their
headers for its memory estimates) and empty placeholder band TIFFs, which are
enough for a dry run. Then times
`snakemake -n --configfile config/dstl.yaml --config data_dir=...`
and records the job counts per rule.

    python benchmarks/dag.py [--repeat 3] [--scales 1 10]

With --scales 10 the test set is ten times DSTL's (4,290 test ids). Writes
benchmarks/results/dag.json. Target: <= 10 s at both sizes.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstl_hpc.sources.dstl import SEED_VALIDATION_IDS  # noqa: E402


def make_description(root: Path, n_train: int = 25, n_test: int = 429, overlap: int = 4) -> None:
    train = list(SEED_VALIDATION_IDS) + [f"6{k:03d}_{k % 5}_{k % 3}" for k in range(n_train - 5)]
    test = train[:overlap] + [f"7{k:03d}_{k % 5}_{k % 4}" for k in range(n_test - overlap)]
    ids = list(dict.fromkeys(train + test))
    (root / "three_band").mkdir(parents=True)
    (root / "sixteen_band").mkdir()
    # The dry run reads each RGB header (the jobs' memory estimates): tiny real TIFFs.
    tiny = np.zeros((3, 8, 8), np.uint16)
    for i in ids:
        tifffile.imwrite(root / "three_band" / f"{i}.tif", tiny)
        for band in "PMA":
            (root / "sixteen_band" / f"{i}_{band}.tif").touch()
    (root / "grid_sizes.csv").write_text(
        ",Xmax,Ymin\n" + "".join(f"{i},0.00918,-0.00904\n" for i in ids)
    )
    rows = "".join(f"{i},{k},MULTIPOLYGON EMPTY\n" for i in train for k in range(1, 11))
    (root / "train_wkt_v4.csv").write_text("ImageId,ClassType,MultipolygonWKT\n" + rows)
    rows = "".join(f"{i},{k},MULTIPOLYGON EMPTY\n" for i in test for k in range(1, 11))
    (root / "sample_submission.csv").write_text("ImageId,ClassType,MultipolygonWKT\n" + rows)
    return len(ids)


def job_counts(text: str) -> dict[str, int]:
    counts = {}
    table = text.split("Job stats:", 1)[-1]
    for line in table.splitlines():
        m = re.match(r"^([a-z_]+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def dry_run(tmp: Path, scale: int, repeat: int) -> dict:
    """Time the dry run of a dataset with ``scale`` x the DSTL test set."""
    data = tmp / f"dstl-x{scale}"
    n_ids = make_description(data, n_test=429 * scale)
    workdir = tmp / f"work-x{scale}"
    workdir.mkdir()
    cmd = [
        sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(ROOT / "config/dstl.yaml"),
        "--config", f"data_dir={data}",
    ]  # fmt: skip
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return {
        "ids": n_ids,
        "seconds": [round(t, 2) for t in times],
        "best_seconds": round(min(times), 2),
        "jobs": job_counts(proc.stdout + proc.stderr),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10],
                    help="sizes of the test set, in multiples of DSTL's 429 ids")  # fmt: skip
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/dag.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {f"x{k}": dry_run(Path(tmp), k, args.repeat) for k in args.scales}
    result = {"target_seconds": 10, **runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, r in runs.items():
        print(f"{name}: {r['ids']} ids, {r['jobs'].get('total')} jobs, best {r['best_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
