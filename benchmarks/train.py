"""Benchmark: UNet training throughput (patches/s) and the patch sampler's speed.

    python benchmarks/train.py [--threads N] [--cpu-batch 16] [--cpu-iters 2]
                               [--batch 128] [--gpu-iters 20]

1. Training steps (forward, loss, backward, Adam) of the reference UNet (12 channels
   in, filters_base 32, 2 classes, 96 px input, 64 px output) on synthetic random
   tensors: on the CPU (a few iterations of a smaller batch: the time per patch
   hardly depends on the batch), and with CUDA at batch 128, fp32 / bf16 autocast,
   each with and without channels_last.
2. The real sampler (``PatchSampler``) on an in-memory 1024 x 1024 stack: patches/s
   of one process (rotation +-180 degrees, flips; ``benchmarks/feed.py``'s
   ``bench_feed``, batches as training gets them) on both augmentation paths (device:
   the CPU only crops; cpu: one cv2 warp per patch), and with CUDA the whole training
   step fed by a DataLoader through the sampler, as ``dstl_hpc.train`` does it
   (``--augment-on``: device = ``CropBatches`` + ``DeviceAugment`` on the GPU, the
   default on CUDA; cpu = ``PatchBatches``; both: each).

Writes benchmarks/results/train.json and prints a table. About a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstl_hpc.config.settings import merge_settings  # noqa: E402

SETTINGS = merge_settings({"classes": [1, 2], "n_channels": 12, "filters_base": 32})


def _net(device, channels_last=False):
    import torch

    from dstl_hpc.train.model import build_model

    torch.manual_seed(0)
    net = build_model(SETTINGS, 12, 2).to(device).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_steps(device, batch, iters, warmup, bf16=False, channels_last=False) -> dict:
    """patches/s of full training steps on random tensors."""
    import torch

    from dstl_hpc.train.losses import dice_bce_loss

    net = _net(device, channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 12, 96, 96, device=device).contiguous(memory_format=fmt)
    y = (torch.rand(batch, 2, 64, 64, device=device) > 0.8).float()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        dice_bce_loss(logits.float(), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    dt = time.perf_counter() - t0
    return {
        "device": device.type,
        "input": "synthetic",
        "batch": batch,
        "bf16": bf16,
        "channels_last": channels_last,
        "iters": iters,
        "seconds": round(dt, 3),
        "patches_per_s": round(batch * iters / dt, 2),
    }


def make_stack(root: Path, size=1024, seed=0):
    from dstl_hpc.prepare.stacks import write_mask, write_stack

    rng = np.random.default_rng(seed)
    img = rng.integers(200, 800, (20, size, size), dtype=np.uint16)
    mask = (rng.random((10, size // 16, size // 16)) > 0.9).astype(np.uint8)
    mask = mask.repeat(16, 1).repeat(16, 2)
    write_stack(root / "stacks" / "a.h5", img, "a", {})
    write_mask(root / "masks" / "a.h5", mask, "a", {})
    return root / "stacks" / "a.h5", root / "masks" / "a.h5"


def bench_sampler(stack, mask, batches=3) -> dict:
    """The feed of one process, measured as ``benchmarks/feed.py`` does (same function)."""
    from benchmarks.feed import bench_feed, settings

    s = settings(180.0, True)
    return {
        "what": "sampler only, 1 process, in memory, rotate 180 + flips, batches of 128 "
        "through DataLoader(num_workers=0) as in benchmarks/feed.py; device_crop: the CPU "
        "cost of augment_on device (crops only), cpu_warp: augment_on cpu",
        "device_crop": bench_feed([stack], [mask], s, True, 128, batches, "device"),
        "cpu_warp": bench_feed([stack], [mask], s, True, 128, batches, "cpu"),
    }


def bench_loader_steps(
    stack, mask, device, batch, iters, workers, bf16, channels_last, augment_on
) -> dict:
    """Training steps fed by the real sampler through a DataLoader, as ``dstl_hpc.train``
    feeds the model: ``augment_on`` device: crops, rotated on ``device``; cpu: patches."""
    import torch

    from dstl_hpc.train.augment import DeviceAugment
    from dstl_hpc.train.batches import CropBatches, PatchBatches, PatchDataset, worker_init
    from dstl_hpc.train.losses import dice_bce_loss
    from dstl_hpc.train.sampler import PatchSampler

    sp = PatchSampler([stack], [mask], [1, 2], [500.0] * 20, [100.0] * 20, SETTINGS, True)
    ds = PatchDataset(sp, batch * (iters + 3), seed=0)
    augment = DeviceAugment(sp, device) if augment_on == "device" else None
    loader = torch.utils.data.DataLoader(
        (PatchBatches if augment is None else CropBatches)(ds, batch),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init if workers else None,
    )
    net = _net(device, channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    t0 = None
    done = 0
    for k, (x, y) in enumerate(loader):
        if k == 3:
            _sync(device)
            t0 = time.perf_counter()
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if augment is not None:
            x, y = augment(x, y)
        x = x.contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        dice_bce_loss(logits.float(), y).backward()
        opt.step()
        if k >= 3:
            done += 1
    _sync(device)
    dt = time.perf_counter() - t0
    return {
        "device": device.type,
        "input": f"sampler, augment on {augment_on}, workers {workers}",
        "batch": batch,
        "bf16": bf16,
        "channels_last": channels_last,
        "iters": done,
        "seconds": round(dt, 3),
        "patches_per_s": round(batch * done / dt, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--cpu-batch", type=int, default=16, help="CPU batch (default: 16)")
    ap.add_argument("--cpu-iters", type=int, default=2, help="timed CPU steps (default: 2)")
    ap.add_argument("--batch", type=int, default=128, help="GPU batch (default: 128)")
    ap.add_argument("--gpu-iters", type=int, default=20, help="timed GPU steps (default: 20)")
    ap.add_argument("--workers", type=int, default=4, help="GPU DataLoader workers (default: 4)")
    ap.add_argument(
        "--augment-on",
        choices=("device", "cpu", "both"),
        default="both",
        help="augmentation path of the GPU steps fed by the sampler (default: both)",
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "train.json", help="JSON"
    )
    args = ap.parse_args()

    import torch

    from dstl_hpc.train import cpu_count
    from dstl_hpc.train.model import count_parameters

    torch.set_num_threads(args.threads or cpu_count())
    cuda = torch.cuda.is_available()
    results = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
        },
        "model": {
            "n_in": 12,
            "filters_base": 32,
            "n_classes": 2,
            "input": 96,
            "output": 64,
            "parameters": count_parameters(_net("cpu")),
        },
        "steps": [],
    }
    cpu = torch.device("cpu")
    results["steps"].append(bench_steps(cpu, args.cpu_batch, args.cpu_iters, warmup=1))
    with tempfile.TemporaryDirectory() as tmp:
        stack, mask = make_stack(Path(tmp))
        results["sampler"] = bench_sampler(stack, mask)
        if cuda:
            gpu = torch.device("cuda")
            torch.backends.cudnn.benchmark = True
            for bf16 in (False, True):
                for cl in (False, True):
                    results["steps"].append(
                        bench_steps(gpu, args.batch, args.gpu_iters, 5, bf16=bf16, channels_last=cl)
                    )
            paths = ("device", "cpu") if args.augment_on == "both" else (args.augment_on,)
            for path in paths:
                for workers in (0, args.workers):
                    results["steps"].append(
                        bench_loader_steps(
                            stack, mask, gpu, args.batch, args.gpu_iters, workers, True, True, path
                        )
                    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"UNet: {results['model']['parameters']:,} parameters, 96 -> 64 px, 12 channels in")
    print(f"{'device':7} {'input':38} {'batch':>5} {'bf16':>5} {'ch_last':>7} {'patches/s':>10}")
    for r in results["steps"]:
        print(
            f"{r['device']:7} {r['input']:38} {r['batch']:5d} {r['bf16']!s:>5} "
            f"{r['channels_last']!s:>7} {r['patches_per_s']:10.2f}"
        )
    smp = results["sampler"]
    print(
        f"sampler ({smp['what']}): device crop {smp['device_crop']['patches_per_s']:.1f}, "
        f"cpu warp {smp['cpu_warp']['patches_per_s']:.1f} patches/s"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
