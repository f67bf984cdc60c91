"""Benchmark: the training input feed on its own (no model), patches/s of ONE process.

    python benchmarks/feed.py [--size 2048] [--images 4] [--batches 6] [--batch 128]

One process, one thread (``torch.set_num_threads(1)``, ``cv2.setNumThreads(1)``)
produces batches exactly as ``dstl_hpc.train`` consumes them (a ``DataLoader``,
``num_workers=0``, ``batch_size=None``, batches written into reused buffers) with the
seed's settings (12 channels, 96 px input, 64 px target, 2 classes, batch 128), on
both augmentation paths:

* device (``augment_on: device``, the default on CUDA): ``CropBatches``, raw uint16
  windows (138 px at rotate_deg 180) and their draws; this is all the CPU does. The
  device's work (``DeviceAugment``: affine_grid + grid_sample of whole batches) is
  timed on this CPU as well, for information (``device_warp_on_cpu_per_core``).
* cpu (``augment_on: cpu``): ``PatchBatches``, one cv2 warp per patch, normalised
  float32 patches (B, 12, 96, 96) and targets (B, 2, 64, 64).

Data: ``--images`` synthetic stacks of ``--size`` x ``--size`` (smooth fields plus
pixel noise, so that they compress like imagery rather than like random numbers)
and masks (``write_mask``), in a temporary directory. The stacks are written in each
storage option tried (``storage_options``: ``write_stack``'s gzip, gzip with smaller
chunks, lzf, szip where HDF5 has it, uncompressed); sizes on disk are recorded. The
files were just written, so they are in the OS page cache: this measures
decompression and copying, not the disk, which is the steady state of a node whose
page cache holds the training stacks.

Cases: each path, in memory and from each storage option, with rotate_deg 180 +
flips (the heaviest seed setting; the headline numbers ``in_memory_per_core`` and
``hdf5_per_core`` are the device path's, from ``write_stack``'s files) and with
rotate_deg 15 without flips. A DataLoader with k workers delivers about k times the
per-core number (the patches are independent).

Writes benchmarks/results/feed.json and prints a table. A few minutes on 1 core.
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

CLASSES = [1, 2]
MEAN = [400.0] * 20
STD = [100.0] * 20


def settings(rotate_deg: float, flips: bool) -> dict:
    return merge_settings(
        {
            "classes": CLASSES,
            "n_channels": 12,
            "patch_inner": 64,
            "patch_border": 16,
            "rotate_deg": rotate_deg,
            "flips": flips,
        }
    )


def synthetic_image(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint16 (20, size, size) and uint8 (10, size, size) masks that compress like imagery.

    Each channel is a smooth landscape plus texture and noise drawn at its band's
    resolution (RGB and P full, M at 1/4, A at 1/25) and upsampled as ``align`` does:
    gzip level 1 + shuffle in the old layout stores it at ~0.37 of its raw size
    (real DSTL stacks: ~180 MB of 454 MB, 0.40).
    """
    import cv2

    rng = np.random.default_rng(seed)
    img = np.empty((20, size, size), np.uint16)
    coarse = rng.normal(0, 1, (size // 64 + 2, size // 64 + 2)).astype(np.float32)
    base = cv2.resize(coarse, (size + 128, size + 128), interpolation=cv2.INTER_CUBIC)
    base = base[:size, :size]
    for c in range(20):
        f = 1 if c < 4 else (4 if c < 12 else 25)
        n = max(1, size // f)
        tex = rng.normal(0, 1, (n, n)).astype(np.float32)
        tex = cv2.GaussianBlur(tex, (0, 0), 0.7) * (3 if f == 1 else 2)
        low = cv2.resize(base, (n, n), interpolation=cv2.INTER_AREA) * (100 + 10 * c)
        low = low + 300 + 20 * c + 15 * tex + rng.normal(0, 2, (n, n)).astype(np.float32)
        if f > 1:
            low = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
        img[c] = np.clip(low, 0, 16383).astype(np.uint16)
    coarse = rng.random((10, size // 16, size // 16)) > 0.9
    mask = coarse.astype(np.uint8).repeat(16, 1).repeat(16, 2)
    return img, mask


def storage_options() -> dict[str, dict | None]:
    """Stack storage tried: None = ``write_stack`` (what the workflow writes), else
    h5py ``create_dataset`` arguments. Only filters built into h5py / HDF5 (no new
    dependency); szip only where this HDF5 has it."""
    import h5py

    from dstl_hpc.prepare.stacks import STACK_CHUNK

    out: dict[str, dict | None] = {
        "gzip": None,
        "gzip_32px_chunks": {
            "chunks": (4, 32, 32),
            "compression": "gzip",
            "compression_opts": 1,
            "shuffle": True,
        },
        "lzf": {"chunks": STACK_CHUNK, "compression": "lzf", "shuffle": True},
        "szip": {"chunks": STACK_CHUNK, "compression": "szip", "compression_opts": ("nn", 16)},
        "uncompressed": {"chunks": STACK_CHUNK},
    }
    if not h5py.h5z.filter_avail(h5py.h5z.FILTER_SZIP):
        del out["szip"]
    return out


def _write_stack(path: Path, img: np.ndarray, kwargs: dict | None) -> None:
    import h5py

    from dstl_hpc.prepare.stacks import write_stack

    path.parent.mkdir(parents=True, exist_ok=True)
    if kwargs is None:
        write_stack(path, img, path.stem, {})
        return
    with h5py.File(path, "w") as h5:
        h5.create_dataset("image", data=img, **kwargs)


def make_data(root: Path, n: int, size: int) -> tuple[dict, list[Path], dict]:
    """Stacks in every storage option (same images), one set of masks (``write_mask``);
    returns ({option: stack paths}, mask paths, {option: seconds spent writing})."""
    from dstl_hpc.prepare.stacks import write_mask

    options = storage_options()
    stacks: dict[str, list[Path]] = {k: [] for k in options}
    seconds = dict.fromkeys(options, 0.0)
    masks = []
    for k in range(n):
        img, mask = synthetic_image(size, k)
        masks.append(root / "masks" / f"m{k}.h5")
        write_mask(masks[-1], mask, f"im{k}", {})
        for name, kwargs in options.items():
            stacks[name].append(root / name / f"s{k}.h5")
            t0 = time.perf_counter()
            _write_stack(stacks[name][-1], img, kwargs)
            seconds[name] += time.perf_counter() - t0
    return stacks, masks, seconds


def layout(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as h5:
        ds = h5["image"]
        opts = ds.compression_opts
        return {
            "chunks": list(ds.chunks),
            "compression": ds.compression,
            "compression_opts": list(opts) if isinstance(opts, tuple) else opts,
            "shuffle": ds.shuffle,
        }


def _per_batch(loader) -> list[float]:
    """Seconds per batch after the first (warm-up: opens files, first allocations)."""
    it = iter(loader)
    next(it)
    times = []
    t0 = time.perf_counter()
    for _ in it:
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return times


def bench_feed(stacks, masks, s: dict, in_memory: bool, batch: int, batches: int, path="cpu"):
    """patches/s of one process producing training batches as ``dstl_hpc.train`` does
    (DataLoader, 0 workers, batch_size None): ``path`` cpu: ``PatchBatches`` (cv2 warp
    per patch, normalised float32 patches); device: ``CropBatches`` (raw uint16 windows
    and their draws: the CPU cost of augment_on device). From the median time per batch,
    robust to other load on a shared machine."""
    import torch

    from dstl_hpc.train.batches import CropBatches, PatchBatches, PatchDataset
    from dstl_hpc.train.sampler import PatchSampler

    sp = PatchSampler(stacks, masks, CLASSES, MEAN, STD, s, in_memory)
    ds = PatchDataset(sp, batch * (batches + 1), seed=0)
    kind = CropBatches if path == "device" else PatchBatches
    loader = torch.utils.data.DataLoader(kind(ds, batch), batch_size=None, num_workers=0)
    times = _per_batch(loader)
    return {
        "patches": batch * len(times),
        "seconds": round(sum(times), 3),
        "patches_per_s": round(batch / float(np.median(times)), 1),
    }


def bench_device_warp(stacks, masks, s: dict, batch: int, repeats: int = 3) -> dict:
    """patches/s of ``DeviceAugment`` (rotation, flips, jitter, normalisation of a whole
    batch with affine_grid + grid_sample) run on this CPU, one thread: for information,
    it runs on the GPU in real use."""
    from dstl_hpc.train.augment import DeviceAugment
    from dstl_hpc.train.batches import CropBatches, PatchDataset
    from dstl_hpc.train.sampler import PatchSampler

    sp = PatchSampler(stacks, masks, CLASSES, MEAN, STD, s, True)
    windows, draws = CropBatches(PatchDataset(sp, batch, seed=0), batch)[0]
    augment = DeviceAugment(sp, "cpu")
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        x, y = augment(windows, draws)
        times.append(time.perf_counter() - t0)
    assert x.shape == (batch, 12, 96, 96) and y.shape == (batch, len(CLASSES), 64, 64)
    return {
        "window_side": sp.window_side,
        "patches_per_s": round(batch / float(np.median(times[1:])), 1),
    }


def bytes_per_patch(s: dict) -> dict:
    """What one patch sends to the training device on each path."""
    from dstl_hpc.train.sampler import window_pad

    side = s["patch_inner"] + 2 * s["patch_border"]
    ws = side + 2 * window_pad(side, s["rotate_deg"])
    n = len(CLASSES)
    return {
        "cpu_warp": 4 * (12 * side**2 + n * s["patch_inner"] ** 2),  # float32 patch, target
        "device_crop": 2 * ws**2 * (12 + n) + 8 * (3 + 12),  # uint16 window, float64 draws
    }


def run_cases(stacks: dict, masks: list, batch: int, batches: int) -> list[dict]:
    """Both paths, in memory and from each storage option, at rotate_deg 180 + flips
    and rotate_deg 15 without flips."""
    cases = []
    sources = [("memory", "gzip", True)] + [(f"hdf5_{k}", k, False) for k in stacks]
    for rot, flips in ((180.0, True), (15.0, False)):
        s = settings(rot, flips)
        for source, option, mem in sources:
            for path in ("device", "cpu"):
                r = bench_feed(stacks[option], masks, s, mem, batch, batches, path)
                cases.append(
                    {"path": path, "source": source, "rotate_deg": rot, "flips": flips, **r}
                )
                print(
                    f"{path:6} {source:24} rotate {rot:5.0f} flips {flips!s:5} "
                    f"{r['patches_per_s']:8.1f} patches/s",
                    flush=True,
                )
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2048, help="stack side in px (default: 2048)")
    ap.add_argument("--images", type=int, default=4, help="number of stacks (default: 4)")
    ap.add_argument("--batch", type=int, default=128, help="batch size (default: 128)")
    ap.add_argument("--batches", type=int, default=6, help="timed batches per case (default: 6)")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "feed.json", help="JSON"
    )
    args = ap.parse_args()

    import cv2
    import h5py
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        stacks, masks, write_s = make_data(Path(tmp), args.images, args.size)
        sizes = {k: sum(p.stat().st_size for p in v) for k, v in stacks.items()}
        layouts = {k: layout(v[0]) for k, v in stacks.items()}
        cases = run_cases(stacks, masks, args.batch, args.batches)
        warp = {
            f"rotate_{rot:.0f}" + ("_flips" if flips else ""): bench_device_warp(
                stacks["gzip"], masks, settings(rot, flips), args.batch
            )
            for rot, flips in ((180.0, True), (15.0, False))
        }

    def pick(path, source, rot=180.0):
        return next(
            c["patches_per_s"]
            for c in cases
            if (c["path"], c["source"], c["rotate_deg"]) == (path, source, rot)
        )

    sources = ["memory"] + [f"hdf5_{k}" for k in stacks]
    raw = args.images * 20 * args.size**2 * 2
    results = {
        "in_memory_per_core": pick("device", "memory"),
        "hdf5_per_core": pick("device", "hdf5_gzip"),
        "unit": "patches/s of one process, one thread (rotate_deg 180 + flips), whole "
        "batches of 128 as training gets them (median time per batch)",
        "note": "in_memory_per_core and hdf5_per_core: the CPU cost of the path the workflow "
        "uses on a GPU by default (augment_on auto -> device): the DataLoader only crops raw "
        "windows (CropBatches); rotation, flips, jitter and normalisation run on the GPU "
        "(device_warp_on_cpu_per_core: that work on this CPU, for information). hdf5: stacks "
        "as the workflow writes them (gzip 1 + shuffle, chunks (4, 64, 64)). cpu_warp: "
        "augment_on cpu (one cv2 warp per patch in the DataLoader), the path of a CPU run.",
        "per_core": {
            "device_crop": {src: pick("device", src) for src in sources},
            "cpu_warp": {src: pick("cpu", src) for src in sources},
        },
        "device_warp_on_cpu_per_core": warp,
        "bytes_per_patch": bytes_per_patch(settings(180.0, True)),
        "storage": {
            k: {
                **layouts[k],
                "bytes_on_disk": sizes[k],
                "size_vs_raw": round(sizes[k] / raw, 3),
                "write_seconds": round(write_s[k], 1),
            }
            for k in stacks
        },
        "cases": cases,
        "data": {
            "images": args.images,
            "size": [args.size, args.size],
            "synthetic": "smooth landscape + texture + noise per band resolution, upsampled "
            "(see synthetic_image); uint16, 20 channels; masks: 16 px blocks (write_mask)",
            "page_cached": True,
            "note": "files were just written: reads come from the OS page cache (the steady "
            "state of a node), so HDF5 numbers measure decompression, not the disk",
            "raw_bytes": raw,
        },
        "feed": {
            "n_channels": 12,
            "input": 96,
            "output": 64,
            "classes": CLASSES,
            "batch": args.batch,
            "timed_batches": args.batches,
            "loader": "torch DataLoader, num_workers=0, batch_size=None, CropBatches (device) "
            "or PatchBatches (cpu)",
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version,
            "threads": 1,
        },
        "command": "python benchmarks/feed.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"device path (crop only): in memory {results['in_memory_per_core']:.0f}, HDF5 "
        f"{results['hdf5_per_core']:.0f} patches/s per core; cpu warp: in memory "
        f"{pick('cpu', 'memory'):.0f}, HDF5 {pick('cpu', 'hdf5_gzip'):.0f}"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
