"""GPU check: the CUDA paths with the real settings, in a few minutes, on one machine.

    python benchmarks/gpu_check.py                      # on a CUDA machine
    bash benchmarks/gpu_check.sh                        # the same, with a log
    python benchmarks/gpu_check.py --device cpu --size 256 256 --steps 3 --filters-base 8 \\
        --out /tmp/gpu-smoke.json                       # a CPU smoke run (2 gloo processes)
    srun --gpus=4 -c 32 --mem 96G -t 60 bash benchmarks/gpu_check.sh   # several GPUs

1. Makes a small synthetic dataset of DSTL-size images (3 images, 2 labelled) and runs
   the real steps on it: align, masks, channel stats.
2. Trains the seed's UNet with `config/dstl.yaml`'s buildings settings (bf16,
   channels_last, cudnn.benchmark, DataLoader workers, batch 128) for two short
   epochs; the first run is stopped by SIGUSR1 after epoch 1 (as SLURM's warning
   does), the second resumes from the checkpoint. Reports patches/s of epoch 2.
3. Predicts one DSTL-size image on the device (tile 1024, 3 x 3 shifts: Mpx/s), and a
   512 x 512 crop both on the device and on the CPU in fp32: the largest and mean
   probability differences and the share of pixels on the other side of 0.5.
4. Several GPUs (``train --procs``, DDP): trains the same group, uninterrupted and without
   validation (only training is timed), on 1 process and on ``--procs`` processes (default:
   every visible GPU; on the CPU 2 gloo processes): patches/s of epoch 2 in all and per
   process (GPU), the scaling from 1 to N, and epoch 1's loss of both (the same batches:
   equal up to float order). The GPU figures are NOT MEASURED YET: only the CPU fallback
   has run (2 gloo processes on a 2-core machine, which says nothing of GPU speed).

Writes benchmarks/results/gpu.json (or --out) and prints a short table. Without CUDA
and without --device cpu it stops at once (exit 2), saying why.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstl_hpc.errors import DstlError  # noqa: E402


def prepare(work: Path, size) -> tuple[Path, list[str]]:
    """Synthetic DSTL-layout data, stacks, masks and stats under ``work``."""
    from dstl_hpc.prepare.align import align_image
    from dstl_hpc.prepare.masks import image_mask
    from dstl_hpc.prepare.stacks import write_mask, write_stack
    from dstl_hpc.prepare.stats import channel_stats
    from dstl_hpc.sources.dstl import Layout, read_band, read_rgb
    from dstl_hpc.sources.synthetic import generate

    data = work / "data"
    truth = generate(data, n_images=3, n_train=2, size=tuple(size), seed=7)
    layout = Layout(data)
    for image in truth["train_ids"] + truth["test_ids"][:1]:
        rgb = read_rgb(layout, image)
        bands = [read_band(layout, image, b) for b in ("P", "M", "A")]
        stack, alignment = align_image(rgb, *bands, image)
        write_stack(work / "stacks" / f"{image}.h5", stack, image, alignment)
        if image in truth["train_ids"]:
            write_mask(work / "masks" / f"{image}.h5", image_mask(layout, image), image, {})
    stats = channel_stats([work / "stacks" / f"{i}.h5" for i in truth["train_ids"]])
    (work / "stats.json").write_text(json.dumps(stats))
    return work, truth["train_ids"] + truth["test_ids"][:1]


def seed_settings(steps: int, filters_base: int | None) -> dict:
    cfg = yaml.safe_load((ROOT / "config/dstl.yaml").read_text())
    merged = {**cfg["defaults"], **cfg["groups"]["buildings"]}
    settings = {k: v for k, v in merged.items() if not k.endswith("_resources")}
    settings.update(epochs=2, patches_per_epoch=steps * settings["batch_size"], valid_tile=512)
    if filters_base:
        settings["filters_base"] = filters_base
    return settings


def train_twice(work: Path, ids: list[str], settings: dict, device: str) -> dict:
    """Stop after epoch 1 with SIGUSR1, then resume; patches/s of epoch 2."""
    from dstl_hpc.config.settings import merge_settings
    from dstl_hpc.train import train

    s = merge_settings(settings)
    kw = dict(
        out=work / "model.pt", metrics=work / "metrics.csv", checkpoint=work / "ckpt.pt",
        stats=work / "stats.json", stacks_dir=work / "stacks", masks_dir=work / "masks",
        train_ids=ids[:1], valid_ids=ids[1:2], group="buildings", variant="validation",
        settings=s, device=device, log_every=10.0,
    )  # fmt: skip

    def stop_after_first(epochs_done):
        if epochs_done == 1:
            os.kill(os.getpid(), signal.SIGUSR1)

    first = train(**kw, hooks={"epoch": stop_after_first})
    resumed = (work / "ckpt.pt").exists()
    second = train(**kw)
    import csv

    with open(work / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    epoch2 = float(rows[-1]["seconds"])
    return {
        "first_exit": first,
        "checkpoint_after_signal": resumed,
        "second_exit": second,
        "epochs_in_metrics": [int(r["epoch"]) for r in rows],
        "patches_per_epoch": s["patches_per_epoch"],
        "epoch2_seconds_with_validation": round(epoch2, 2),
        "patches_per_s": round(s["patches_per_epoch"] / epoch2, 1),
    }


def scaling(work: Path, ids: list[str], settings: dict, device: str, procs: int) -> dict:
    """Train on 1 and on ``procs`` processes (DDP), uninterrupted, no validation:
    patches/s of epoch 2 (epoch 1 warms up cudnn and the workers), per process, scaling."""
    import csv

    from dstl_hpc.config.settings import merge_settings
    from dstl_hpc.train import train

    s = merge_settings(settings)
    runs = {}
    for n in sorted({1, procs}):
        name = f"ddp{n}"
        code = train(
            out=work / f"{name}.pt", metrics=work / f"{name}.csv",
            checkpoint=work / f"{name}.ckpt", stats=work / "stats.json",
            stacks_dir=work / "stacks", masks_dir=work / "masks", train_ids=ids[:2],
            group="buildings", variant="all", settings=s, device=device, log_every=10.0,
            procs=n,
        )  # fmt: skip
        with open(work / f"{name}.csv") as fh:
            rows = list(csv.DictReader(fh))
        rate = s["patches_per_epoch"] / float(rows[-1]["seconds"])
        runs[n] = {
            "exit": code,
            "epoch1_train_loss": float(rows[0]["train_loss"]),
            "epoch2_seconds": float(rows[-1]["seconds"]),
            "patches_per_s": round(rate, 1),
            "patches_per_s_per_process": round(rate / n, 1),
        }
    one, many = runs[1], runs[procs]
    return {
        "procs": procs,
        "runs": {str(n): r for n, r in runs.items()},
        "scaling": round(many["patches_per_s"] / one["patches_per_s"], 2),
        "efficiency": round(many["patches_per_s"] / one["patches_per_s"] / procs, 2),
        "epoch1_loss_rel_diff": abs(many["epoch1_train_loss"] / one["epoch1_train_loss"] - 1),
    }


def predict_checks(work: Path, image: str, device: str) -> dict:
    import torch

    from dstl_hpc.device import resolve_device
    from dstl_hpc.predict.options import options_from_meta
    from dstl_hpc.predict.tiled import predict_probabilities
    from dstl_hpc.prepare.stacks import read_stack
    from dstl_hpc.train.model import load_model_file

    dev = resolve_device(device)
    model, meta = load_model_file(work / "model.pt", dev)
    stack = read_stack(work / "stacks" / f"{image}.h5", len(meta["mean"]))
    opt = options_from_meta(meta, tile=1024, shift_steps=3)
    opt.batch = 4 if dev.type == "cuda" else 1
    predict_probabilities(model, stack[:, :512, :512], meta["mean"], meta["std"], opt, dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    predict_probabilities(model, stack, meta["mean"], meta["std"], opt, dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    crop = stack[:, :512, :512]
    on_dev = predict_probabilities(model, crop, meta["mean"], meta["std"], opt, dev)
    cpu_model, _ = load_model_file(work / "model.pt", torch.device("cpu"))
    opt_cpu = options_from_meta(meta, tile=1024, shift_steps=3)
    opt_cpu.batch = 1
    on_cpu = predict_probabilities(
        cpu_model, crop, meta["mean"], meta["std"], opt_cpu, torch.device("cpu")
    )
    diff = np.abs(on_dev - on_cpu)
    return {
        "image_px": [int(stack.shape[1]), int(stack.shape[2])],
        "tile": 1024,
        "shift_steps": 3,
        "seconds": round(seconds, 2),
        "mpx_per_s": round(stack.shape[1] * stack.shape[2] / 1e6 / seconds, 3),
        "vs_cpu_fp32_crop": {
            "max_abs_diff": round(float(diff.max()), 5),
            "mean_abs_diff": round(float(diff.mean()), 6),
            "flipped_at_0_5": round(float(np.mean((on_dev >= 0.5) != (on_cpu >= 0.5))), 6),
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--size", type=int, nargs=2, default=[3348, 3392], metavar=("H", "W"))
    ap.add_argument("--steps", type=int, default=60, help="batches of 128 per epoch")
    ap.add_argument("--filters-base", type=int, default=None, help="default: the seed's 32")
    ap.add_argument(
        "--procs",
        type=int,
        default=None,
        help="DDP processes of the scaling check (default: every visible GPU; CPU: 2)",
    )
    ap.add_argument("--work", default="/tmp/dstl-gpu-check")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/gpu.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    from dstl_hpc.device import resolve_device

    try:
        resolve_device(args.device)
    except DstlError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    work = Path(args.work)
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    _, ids = prepare(work, args.size)
    prep = time.perf_counter() - t0
    settings = seed_settings(args.steps, args.filters_base)
    training = train_twice(work, ids, settings, args.device)
    prediction = predict_checks(work, ids[-1], args.device)
    cuda = args.device == "cuda"
    procs = args.procs or (torch.cuda.device_count() if cuda else 2)
    several = scaling(work, ids, settings, args.device, procs)
    result = {
        "command": " ".join(sys.argv),
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "devices": [torch.cuda.get_device_name(i) for i in range(procs)] if cuda else [],
            "cpus": os.cpu_count(),
        },
        "prepare_seconds": round(prep, 1),
        "train": training,
        "predict": prediction,
        "several": several,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"train: {training['patches_per_s']} patches/s (epoch 2, incl. validation); "
        f"stopped with {training['first_exit']}, resumed to {training['second_exit']}"
    )
    print(f"predict: {prediction['mpx_per_s']} Mpx/s; vs CPU fp32: "
          f"{prediction['vs_cpu_fp32_crop']}")  # fmt: skip
    runs = several["runs"]
    rates = " / ".join(str(r["patches_per_s"]) for r in runs.values())
    print(
        f"several: {rates} patches/s (1 / {procs} processes), "
        f"{runs[str(procs)]['patches_per_s_per_process']} "
        f"per process; scaling {several['scaling']}x ({several['efficiency']:.0%} of linear); "
        f"epoch 1 loss differs by {several['epoch1_loss_rel_diff']:.1e}"
    )
    ok = training["first_exit"] == 138 and training["second_exit"] == 0
    ok = ok and training["epochs_in_metrics"] == [1, 2]
    ok = ok and all(r["exit"] == 0 for r in runs.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
