"""Benchmark: whole-image prediction speed and polygonisation time.

    python benchmarks/predict.py [--size 384] [--threads 1] [--gpu-size 3348x3392]

1. Prediction (UNet filters_base 32, 12 channels in, 2 classes, random weights) of a
   ``size x size`` image on the CPU: large tiles vs the reference's 96 px windows
   (tile 64 = step 64), each without and with 3 x 3 shift averaging; megapixels/s
   and, for the same image, agreement of large tiles with patches (mean |dp| and
   the fraction of pixels on the same side of 0.5). With CUDA, also a DSTL-size
   image (bf16 autocast, tile 1024) with and without shift averaging.
2. Polygonisation of a DSTL-size (3348 x 3392) realistic mask (thresholded smoothed
   noise: blobs with holes) at epsilon 2 / min_area 50 and at epsilon 0 / 0,
   including the grid scaling and the WKT text.

Writes benchmarks/results/predict.json and prints a table. About 1-2 minutes on
one CPU core.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstl_hpc.polygons import mask_to_polygons, to_wkt  # noqa: E402
from dstl_hpc.sources.dstl import pixels_to_grid  # noqa: E402

DSTL_H, DSTL_W = 3348, 3392


def build_net(device):
    import torch

    from dstl_hpc.config.settings import copy_defaults
    from dstl_hpc.train.model import build_model

    torch.manual_seed(0)
    s = copy_defaults()
    s.update(classes=[1, 2], n_channels=12, filters_base=32, top_scale=2)
    return build_model(s, n_in=12, n_classes=2).to(device).eval()


def calibrate(net, image, device, n=8, seed=0):
    """Batch-norm statistics from the image (random weights, but a non-flat output)."""
    import torch

    rng = np.random.default_rng(seed)
    _, h, w = image.shape
    ys, xs = rng.integers(0, h - 96, n), rng.integers(0, w - 96, n)
    x = np.stack([image[:, y : y + 96, x0 : x0 + 96] for y, x0 in zip(ys, xs, strict=True)])
    x = torch.from_numpy((x.astype(np.float32) - 400.0) / 60.0).to(device)
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # cumulative average
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        net(x)
    return net.eval()


def fake_image(h, w, seed=0):
    """A 12-channel uint16 image with smooth structure (so the net sees some texture)."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(size=(h, w)).astype(np.float32), (0, 0), 6)
    base = base / (base.std() + 1e-6)
    chans = [400 + 60 * base + 20 * rng.normal(size=(h, w)).astype(np.float32) for _ in range(12)]
    return np.clip(np.stack(chans), 0, 2047).astype(np.uint16)


def time_predict(net, image, opt, device, repeat=1):
    import torch

    from dstl_hpc.predict.tiled import predict_probabilities

    mean, std = [400.0] * 12, [60.0] * 12
    best, prob = float("inf"), None
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        prob = predict_probabilities(net, image, mean, std, opt, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, prob


def bench_predict(size, threads):
    import torch

    from dstl_hpc.predict.options import PredictOptions

    torch.set_num_threads(threads)
    device = torch.device("cpu")
    image = fake_image(size, size)
    net = calibrate(build_net(device), image, device)
    mpx = size * size / 1e6
    rows, probs = [], {}
    for name, tile, steps in (
        ("large tiles (512)", 512, 1),
        ("96 px windows (tile 64)", 64, 1),
        ("large tiles (512) + shift avg 3x3", 512, 3),
        ("96 px windows + shift avg 3x3", 64, 3),
    ):
        opt = PredictOptions(tile=tile, shift_steps=steps, patch_inner=64)
        sec, prob = time_predict(net, image, opt, device)
        probs[(tile, steps)] = prob
        rows.append(
            {
                "device": "cpu",
                "threads": threads,
                "image": f"{size}x{size}",
                "mode": name,
                "tile": tile,
                "passes": steps * steps,
                "seconds": round(sec, 3),
                "mpx_per_s": round(mpx / sec, 4),
            }
        )
        print(f"  cpu {name:<36} {sec:7.2f} s  {mpx / sec:7.3f} Mpx/s", flush=True)
    agreement = {}
    for steps in (1, 3):
        a, b = probs[(512, steps)], probs[(64, steps)]
        agreement[f"shift_steps_{steps}"] = {
            "mean_abs_diff": float(np.mean(np.abs(a - b))),
            "max_abs_diff": float(np.max(np.abs(a - b))),
            "same_side_of_0.5": float(np.mean((a >= 0.5) == (b >= 0.5))),
            "prob_std": float(np.std(a)),
        }
    return rows, agreement


def bench_gpu(gpu_h, gpu_w):
    import torch

    from dstl_hpc.predict.options import PredictOptions

    if not torch.cuda.is_available():
        return [], None
    device = torch.device("cuda")
    image = fake_image(gpu_h, gpu_w)
    net = calibrate(build_net(device), image, device).to(memory_format=torch.channels_last)
    mpx = gpu_h * gpu_w / 1e6
    rows = []
    for name, tile, steps, batch in (
        ("large tiles (1024), bf16", 1024, 1, 4),
        ("large tiles (1024) + shift avg 3x3, bf16", 1024, 3, 4),
        ("96 px windows (tile 64), bf16", 64, 1, 256),
    ):
        opt = PredictOptions(tile=tile, shift_steps=steps, patch_inner=64, batch=batch)
        time_predict(net, image[:, :512, :512], opt, device)  # warm-up
        sec, _ = time_predict(net, image, opt, device)
        rows.append(
            {
                "device": torch.cuda.get_device_name(0),
                "image": f"{gpu_h}x{gpu_w}",
                "mode": name,
                "tile": tile,
                "passes": steps * steps,
                "batch": batch,
                "seconds": round(sec, 3),
                "mpx_per_s": round(mpx / sec, 3),
            }
        )
        print(f"  gpu {name:<44} {sec:7.2f} s  {mpx / sec:8.2f} Mpx/s", flush=True)
    return rows, torch.cuda.get_device_name(0)


def realistic_mask(sigma, quantile, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(size=(DSTL_H, DSTL_W)).astype(np.float32), (0, 0), sigma)
    return n > np.quantile(n, quantile)


def bench_polygons():
    xmax, ymin = 0.00918, -0.00904
    rows = []
    for label, sigma, q in (
        ("blobs (sigma 8, 20% cover)", 8.0, 0.8),
        ("small objects (sigma 3, 5% cover)", 3.0, 0.95),
    ):
        mask = realistic_mask(sigma, q)
        for eps, min_area in ((2.0, 50.0), (0.0, 0.0)):
            t0 = time.perf_counter()
            mp = mask_to_polygons(mask, epsilon=eps, min_area=min_area)
            t1 = time.perf_counter()
            text = to_wkt(pixels_to_grid(mp, DSTL_W, DSTL_H, xmax, ymin))
            t2 = time.perf_counter()
            rows.append(
                {
                    "mask": label,
                    "epsilon": eps,
                    "min_area": min_area,
                    "polygons": len(mp.geoms),
                    "holes": int(sum(len(p.interiors) for p in mp.geoms)),
                    "wkt_mb": round(len(text) / 1e6, 2),
                    "seconds_polygons": round(t1 - t0, 3),
                    "seconds_wkt": round(t2 - t1, 3),
                    "seconds_total": round(t2 - t0, 3),
                }
            )
            print(
                f"  {label:<36} eps {eps:3.1f} min_area {min_area:4.0f}: {len(mp.geoms):6d} polys "
                f"{t1 - t0:6.2f} s + WKT {t2 - t1:5.2f} s ({len(text) / 1e6:.1f} MB)",
                flush=True,
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=384, help="CPU benchmark image side")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--gpu-size", default=f"{DSTL_H}x{DSTL_W}", help="CUDA benchmark image HxW")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predict.json"))
    args = ap.parse_args()
    import torch

    print(f"prediction (UNet filters_base 32, 12 ch, random weights), torch {torch.__version__}")
    cpu_rows, agreement = bench_predict(args.size, args.threads)
    gh, gw = (int(v) for v in args.gpu_size.lower().split("x"))
    gpu_rows, gpu_name = bench_gpu(gh, gw)
    if not gpu_rows:
        print("  (no CUDA device: GPU rows skipped)")
    print(f"polygonisation of a {DSTL_H}x{DSTL_W} mask (incl. grid scaling + WKT)")
    poly_rows = bench_polygons()
    result = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_threads": args.threads,
            "gpu": gpu_name,
        },
        "predict": cpu_rows + gpu_rows,
        "agreement_large_tiles_vs_patches": agreement,
        "polygonize": poly_rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print("\n| device | image | mode | passes | s | Mpx/s |\n|---|---|---|---|---|---|")
    for r in result["predict"]:
        print(
            f"| {r['device']} | {r['image']} | {r['mode']} | {r['passes']} | "
            f"{r['seconds']} | {r['mpx_per_s']} |"
        )
    for k, v in agreement.items():
        print(
            f"agreement large tiles vs patches ({k}): mean |dp| {v['mean_abs_diff']:.4f}, "
            f"max {v['max_abs_diff']:.3f}, same side of 0.5 {100 * v['same_side_of_0.5']:.2f}% "
            f"(std of p {v['prob_std']:.3f})"
        )
    print(
        "\n| mask | eps | min_area | polygons | s polygons | s WKT | MB |\n|---|---|---|---|---|---|---|"
    )
    for r in poly_rows:
        print(
            f"| {r['mask']} | {r['epsilon']} | {r['min_area']} | {r['polygons']} | "
            f"{r['seconds_polygons']} | {r['seconds_wkt']} | {r['wkt_mb']} |"
        )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
