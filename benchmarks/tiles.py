"""Large tiles vs 96-px windows, with and without shift averaging, on TRAINED models.

For every group's validation model, predicts images with output tiles of
``patch_inner`` (64: the reference's 96 px windows, slid with step 64, or 64 / 3
with shift averaging) and with larger tiles, each with the given shift steps, and
reports the pixel Jaccard at 0.5 per class (sum of TP over the images / sum of the
unions) against the masks, and the seconds taken (one model warm-up forward per
input size first, so that one-off oneDNN set-up is not counted).

Small-image mode (the demo's own 384 px validation stacks; `snakemake --cores all`
first), the models' valid_ids:

    python benchmarks/tiles.py --results results --tiles 64 256 --shift-steps 1 2

DSTL-size mode (what benchmarks/results/tiles.json holds): a synthetic DSTL-size
image from the same generator as the demo (same object scale), aligned and
rasterised outside the repository, predicted with the demo's trained models:

    python -m dstl_hpc synth /tmp/bench_dstl/data --images 3 --train 2 \\
        --size 3348 3392 --seed 5
    python -m dstl_hpc align /tmp/bench_dstl/data 6010_0_0 /tmp/bench_dstl/stacks/6010_0_0.h5
    python -m dstl_hpc masks /tmp/bench_dstl/data 6010_0_0 /tmp/bench_dstl/masks/6010_0_0.h5
    python benchmarks/tiles.py --results /tmp/demo/results \\
        --stacks /tmp/bench_dstl/stacks --masks /tmp/bench_dstl/masks \\
        --images 6010_0_0 --crop 2400 2400 --tiles 64 1024 --shift-steps 1 3 --threads 1

``--crop H W`` predicts only the top-left H x W px of each image (and its mask):
a time budget (the 96 px windows with 3 x 3 shifts take about 20 s per Mpx per
group on one core with the demo's small models). Writes --out
(benchmarks/results/tiles.json) after every group, with a record of the data,
models, threads and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_images(stacks: Path, masks: Path, ids, n_in, classes, crop=None):
    """{id: (image (n_in, H, W) uint16, truth (n_classes, H, W) bool)}, cropped top-left."""
    from dstl_hpc.prepare.stacks import read_mask, read_stack

    out = {}
    for i in ids:
        img = read_stack(stacks / f"{i}.h5", n_in)
        y = read_mask(masks / f"{i}.h5", classes).astype(bool)
        if crop:
            img = np.ascontiguousarray(img[:, : crop[0], : crop[1]])
            y = np.ascontiguousarray(y[:, : crop[0], : crop[1]])
        out[i] = (img, y)
    return out


def jaccard(tp, union) -> list[float | None]:
    return [float(t / u) if u else None for t, u in zip(tp, union, strict=True)]


def warm_up(model, n_in: int, sides, bf16: bool = False) -> None:
    """One forward per input side: oneDNN sets up its kernels on the first call."""
    with torch.inference_mode():
        for side in sorted(set(sides)):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(torch.zeros((1, n_in, side, side)))


def model_record(path: Path, model, meta: dict) -> dict:
    hp = meta["hparams"]
    return {
        "path": str(path),
        "classes": [int(c) for c in meta["classes"]],
        "n_in": len(meta["mean"]),
        "filters_base": hp.get("filters_base"),
        "top_scale": hp.get("top_scale"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs_done": meta.get("epochs_done"),
        "valid_ids": meta.get("valid_ids"),
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def fmt_jac(classes, jac) -> str:
    return " ".join(
        f"{k}:{'-' if j is None else f'{j:.3f}'}" for k, j in zip(classes, jac, strict=True)
    )


def main() -> int:
    from dstl_hpc.predict.options import options_from_meta
    from dstl_hpc.predict.tiled import predict_probabilities
    from dstl_hpc.predict.tiles import axis_tiles
    from dstl_hpc.train.model import load_model_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "results"), help="models/validation/*")
    ap.add_argument("--stacks", help="stack folder (default RESULTS/stacks)")
    ap.add_argument("--masks", help="mask folder (default RESULTS/masks)")
    ap.add_argument("--images", nargs="+", help="image ids (default: each model's valid_ids)")
    ap.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help="top-left crop")
    ap.add_argument("--groups", nargs="+", help="only these groups")
    ap.add_argument("--tiles", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--shift-steps", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--note", default="", help="free text stored in the JSON")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/tiles.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    stacks = Path(args.stacks) if args.stacks else res / "stacks"
    masks = Path(args.masks) if args.masks else res / "masks"
    record = {
        "command": "python benchmarks/tiles.py " + " ".join(sys.argv[1:]),
        "note": args.note,
        "threads": args.threads,
        "machine": machine(),
        "data": {"stacks": str(stacks), "masks": str(masks), "crop": args.crop, "images": {}},
        "models": {},
        "metric": "pixel Jaccard at 0.5 per class: sum of TP over images / sum of unions",
        "rows": [],
        "summary": [],
    }
    out = Path(args.out)
    for model_path in sorted((res / "models/validation").glob("*/model.pt")):
        model, meta = load_model_file(model_path, torch.device("cpu"))
        group = meta["group"]
        if args.groups and group not in args.groups:
            continue
        classes = [int(c) for c in meta["classes"]]
        n_in = len(meta["mean"])
        ids = args.images or meta.get("valid_ids") or []
        data = load_images(stacks, masks, ids, n_in, classes, args.crop)
        for i, (img, _) in data.items():
            record["data"]["images"][i] = list(img.shape[1:])
        record["models"][group] = model_record(model_path, model, meta)
        b, div = int(model.border), int(model.divisor)
        by_key = {}
        for tile in args.tiles:
            for steps in args.shift_steps:
                opt = options_from_meta(meta, tile=tile, shift_steps=steps, edge_margin=0)
                last = opt.offsets[-1]
                sides = {
                    i: (axis_tiles(img.shape[1], tile, last, b, div),
                        axis_tiles(img.shape[2], tile, last, b, div))
                    for i, (img, _) in data.items()
                }  # fmt: skip
                warm_up(model, n_in, [s + 2 * b for ty_tx in sides.values() for s in ty_tx])
                tp = np.zeros(len(classes))
                union = np.zeros(len(classes))
                t0 = time.perf_counter()
                for img, y in data.values():
                    prob = predict_probabilities(
                        model, img, meta["mean"], meta["std"], opt, torch.device("cpu")
                    )
                    pred = prob >= 0.5
                    tp += (pred & y).sum(axis=(1, 2))
                    union += (pred | y).sum(axis=(1, 2))
                seconds = time.perf_counter() - t0
                jac = jaccard(tp, union)
                row = {
                    "group": group,
                    "tile": tile,
                    "shift_steps": steps,
                    "output_tile_sides": {i: list(s) for i, s in sides.items()},
                    "seconds": round(seconds, 2),
                    "pixel_jaccard": dict(zip(map(str, classes), jac, strict=True)),
                    "truth_pixels": dict(
                        zip(
                            map(str, classes),
                            [int(sum(y[k].sum() for _, y in data.values())) for k in range(len(classes))],
                            strict=True,
                        )
                    ),
                }  # fmt: skip
                record["rows"].append(row)
                by_key[tile, steps] = row
                print(
                    f"{group:<12} tile {tile:>4} shifts {steps}x{steps} {seconds:7.2f} s  "
                    + fmt_jac(classes, jac),
                    flush=True,
                )
        ref_tile = min(args.tiles)
        for tile in args.tiles:
            if tile == ref_tile:
                continue
            for steps in args.shift_steps:
                ref, big = by_key[ref_tile, steps], by_key[tile, steps]
                record["summary"].append(
                    {
                        "group": group,
                        "shift_steps": steps,
                        "tile": tile,
                        "vs_tile": ref_tile,
                        "speedup": round(ref["seconds"] / big["seconds"], 2),
                        "jaccard_change": {
                            k: None if j is None or ref["pixel_jaccard"][k] is None
                            else round(j - ref["pixel_jaccard"][k], 4)
                            for k, j in big["pixel_jaccard"].items()
                        },
                    }
                )  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
