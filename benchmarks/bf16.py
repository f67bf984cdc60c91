"""bf16 autocast vs fp32 whole-image prediction on the CPU, with TRAINED models.

For every group's validation model, predicts images twice with the model's own
prediction options (tile, shift averaging; edge_margin 0): in fp32, and under
``torch.autocast('cpu', dtype=torch.bfloat16)`` (``PredictOptions.bf16_cpu``; the
workflow itself uses bf16 on CUDA only). Reports per class the pixel Jaccard at 0.5
of both (sum of TP over the images / sum of the unions), the mean and max |p_bf16 -
p_fp32| and the fraction of pixels whose 0.5 decision differs, and the seconds
(after one warm-up forward per input size and precision).

Case 1, always: the demo's 384 px validation stacks (each model's valid_ids).
Case 2, with --dstl-stacks: DSTL-size images (see benchmarks/tiles.py for how
/tmp/bench_dstl is made), optionally cropped and with other shift steps.

    python benchmarks/bf16.py --results /tmp/demo/results --threads 1 \\
        --dstl-stacks /tmp/bench_dstl/stacks --dstl-masks /tmp/bench_dstl/masks \\
        --dstl-images 6010_0_0 --dstl-crop 2304 2304 --dstl-shift-steps 1

Writes --out (benchmarks/results/bf16.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiles import jaccard, load_images, machine, model_record, warm_up  # noqa: E402


def _num(x, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def run_case(name, models, stacks, masks, ids, crop, shift_steps, groups) -> dict:
    from dstl_hpc.predict.options import options_from_meta
    from dstl_hpc.predict.tiled import predict_probabilities
    from dstl_hpc.predict.tiles import axis_tiles
    from dstl_hpc.train.model import load_model_file

    case = {
        "case": name,
        "stacks": str(stacks),
        "masks": str(masks),
        "crop": crop,
        "images": {},
        "rows": [],
    }
    for model_path in models:
        model, meta = load_model_file(model_path, torch.device("cpu"))
        group = meta["group"]
        if groups and group not in groups:
            continue
        classes = [int(c) for c in meta["classes"]]
        n_in = len(meta["mean"])
        data = load_images(stacks, masks, ids or meta.get("valid_ids") or [], n_in, classes, crop)
        for i, (img, _) in data.items():
            case["images"][i] = list(img.shape[1:])
        b, div = int(model.border), int(model.divisor)
        row = {"group": group, "model": model_record(model_path, model, meta)}
        probs = {}
        for label, bf16 in (("fp32", False), ("bf16", True)):
            opt = options_from_meta(
                meta, shift_steps=shift_steps, edge_margin=0, bf16=bf16, bf16_cpu=bf16
            )
            last = opt.offsets[-1]
            sides = [
                axis_tiles(n, opt.tile, last, b, div) + 2 * b
                for img, _ in data.values()
                for n in img.shape[1:]
            ]
            warm_up(model, n_in, sides, bf16=bf16)
            t0 = time.perf_counter()
            probs[label] = {
                i: predict_probabilities(model, img, meta["mean"], meta["std"], opt)
                for i, (img, _) in data.items()
            }
            row[f"seconds_{label}"] = round(time.perf_counter() - t0, 2)
            row["tile"], row["shift_steps"] = opt.tile, opt.shift_steps
        k = len(classes)
        tp = {lab: np.zeros(k) for lab in probs}
        union = {lab: np.zeros(k) for lab in probs}
        abs_sum, abs_max, flips, npx = np.zeros(k), np.zeros(k), np.zeros(k), 0
        for i, (_, y) in data.items():
            for lab in probs:
                pred = probs[lab][i] >= 0.5
                tp[lab] += (pred & y).sum(axis=(1, 2))
                union[lab] += (pred | y).sum(axis=(1, 2))
            d = np.abs(probs["bf16"][i] - probs["fp32"][i])
            abs_sum += d.sum(axis=(1, 2), dtype=np.float64)
            abs_max = np.maximum(abs_max, d.max(axis=(1, 2)))
            flips += ((probs["bf16"][i] >= 0.5) != (probs["fp32"][i] >= 0.5)).sum(axis=(1, 2))
            npx += y.shape[1] * y.shape[2]
        jf, jb = jaccard(tp["fp32"], union["fp32"]), jaccard(tp["bf16"], union["bf16"])
        row["classes"] = {
            str(c): {
                "jaccard_fp32": jf[n],
                "jaccard_bf16": jb[n],
                "jaccard_change": None if jf[n] is None else round(jb[n] - jf[n], 5),
                "mean_abs_dp": float(abs_sum[n] / npx),
                "max_abs_dp": float(abs_max[n]),
                "decision_flips": float(flips[n] / npx),
            }
            for n, c in enumerate(classes)
        }
        case["rows"].append(row)
        print(
            f"{name:<6} {group:<12} fp32 {row['seconds_fp32']:6.2f} s bf16 "
            f"{row['seconds_bf16']:6.2f} s  "
            + "  ".join(
                f"{c}: J {_num(v['jaccard_fp32'])} {_num(v['jaccard_change'], '+.4f')}"
                f" |dp| {v['mean_abs_dp']:.1e}"
                for c, v in row["classes"].items()
            ),
            flush=True,
        )
    return case


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "results"), help="models/validation/*")
    ap.add_argument("--groups", nargs="+", help="only these groups")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dstl-stacks", help="case 2: stack folder of DSTL-size images")
    ap.add_argument("--dstl-masks", help="case 2: mask folder")
    ap.add_argument("--dstl-images", nargs="+", help="case 2: image ids")
    ap.add_argument("--dstl-crop", type=int, nargs=2, metavar=("H", "W"), help="top-left crop")
    ap.add_argument("--dstl-shift-steps", type=int, help="case 2 (default: the model's)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/bf16.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    models = sorted((res / "models/validation").glob("*/model.pt"))
    record = {
        "command": "python benchmarks/bf16.py " + " ".join(sys.argv[1:]),
        "threads": args.threads,
        "machine": machine(),
        "cpu_bf16": "torch.autocast('cpu', dtype=torch.bfloat16) via PredictOptions.bf16_cpu",
        "metric": "pixel Jaccard at 0.5 per class: sum of TP over images / sum of unions",
        "cases": [],
    }
    out = Path(args.out)
    record["cases"].append(
        run_case("demo", models, res / "stacks", res / "masks", None, None, None, args.groups)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    if args.dstl_stacks:
        case = run_case(
            "dstl",
            models,
            Path(args.dstl_stacks),
            Path(args.dstl_masks),
            args.dstl_images,
            args.dstl_crop,
            args.dstl_shift_steps,
            args.groups,
        )
        record["cases"].append(case)
        out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
