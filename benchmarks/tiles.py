"""Large tiles vs 96-px patches, with and without shift averaging, on TRAINED models.

Uses the demo's validation models and stacks (run `snakemake --cores all` first):
for every group, predicts the validation images with output tiles of
`patch_inner` (the reference's 96 px windows) and of larger tiles, with and
without shift averaging, and reports the pixel Jaccard at 0.5 against the masks
and the seconds taken.

    python benchmarks/tiles.py [--results results] [--tiles 64 256] [--threads 1]

Writes benchmarks/results/tiles.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from dstl_hpc.model import load_model_file
    from dstl_hpc.predict import options_from_meta, predict_probabilities
    from dstl_hpc.stacks import read_mask, read_stack

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--tiles", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--shift-steps", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/tiles.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    rows = []
    for model_path in sorted((res / "models/validation").glob("*/model.pt")):
        model, meta = load_model_file(model_path, torch.device("cpu"))
        classes = [int(c) for c in meta["classes"]]
        n_in = len(meta["mean"])
        images = meta.get("valid_ids") or []
        stacks = {i: read_stack(res / f"stacks/{i}.h5", n_in) for i in images}
        truth = {i: read_mask(res / f"masks/{i}.h5", classes) for i in images}
        for tile in args.tiles:
            for steps in args.shift_steps:
                opt = options_from_meta(meta, tile=tile, shift_steps=steps, edge_margin=0)
                tp = np.zeros(len(classes))
                union = np.zeros(len(classes))
                t0 = time.perf_counter()
                for i in images:
                    prob = predict_probabilities(
                        model, stacks[i], meta["mean"], meta["std"], opt, torch.device("cpu")
                    )
                    pred = prob >= 0.5
                    y = truth[i].astype(bool)
                    tp += (pred & y).sum(axis=(1, 2))
                    union += (pred | y).sum(axis=(1, 2))
                seconds = time.perf_counter() - t0
                jac = [float(t / u) if u else None for t, u in zip(tp, union, strict=True)]
                rows.append(
                    {
                        "group": meta["group"],
                        "tile": tile,
                        "shift_steps": steps,
                        "seconds": round(seconds, 2),
                        "pixel_jaccard": dict(zip(map(str, classes), jac, strict=True)),
                    }
                )
                print(
                    f"{meta['group']:<12} tile {tile:>4} shifts {steps}x{steps} "
                    f"{seconds:6.2f} s  "
                    + " ".join(
                        f"{k}:{'-' if j is None else f'{j:.3f}'}"
                        for k, j in zip(classes, jac, strict=True)
                    )
                )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
