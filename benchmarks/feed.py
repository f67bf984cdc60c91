"""Benchmark: the training input feed on its own (no model), patches/s of ONE process.

    python benchmarks/feed.py [--size 2048] [--images 4] [--batches 6] [--batch 128]
                              [--rounds 2] [--options blosc_lz4,uncompressed]

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
and masks, in a temporary directory, in each storage option tried
(``storage_options``): every ``stack_compression`` through ``write_stack`` and
``write_mask`` (blosc-lz4hc, the default; gzip, the default before it; none), and
other HDF5 filters and chunk shapes for comparison (gzip with smaller chunks, lzf,
szip where HDF5 has it, Blosc with LZ4 or Zstd, Blosc2, other chunks); sizes on disk
are recorded. The files were just written, so they are in the OS page cache: this
measures decompression and copying, not the disk, which is the steady state of a node
whose page cache holds the training stacks.

Cases: each path, in memory and from each storage option, with rotate_deg 180 +
flips (the heaviest seed setting; the headline numbers ``in_memory_per_core`` and
``hdf5_per_core`` are the device path's, from the default ``write_stack`` /
``write_mask`` files) and with rotate_deg 15 without flips. A DataLoader with k
workers delivers about k times the per-core number (the patches are independent).
The files are synced to disk before any timing (no writeback during it); each case
runs ``--rounds`` times (all cases once a round) and keeps its fastest round, since
other work on a shared machine only ever slows a round down.
Whole-stack reads (``in_memory`` training's load, ``predict``): seconds per stack of
``read_stack`` (20 channels) and of ``PatchSampler``'s in-memory load, per option.

Writes benchmarks/results/feed.json and prints a table. A few minutes on 1 core.
"""

from __future__ import annotations

import argparse
import json
import os
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


def option_name(compression: str) -> str:
    """The result key of a ``stack_compression`` option ("none": "uncompressed")."""
    return "uncompressed" if compression == "none" else compression.replace("-", "_")


def storage_options() -> dict[str, dict]:
    """Stack and mask storage tried, by name: {"write": c} is what the workflow writes
    with ``stack_compression`` c (``write_stack`` / ``write_mask``); others give h5py
    ``create_dataset`` filter arguments ("filters") and the stack's "chunks" (masks: the
    same filters in the workflow's mask chunks). szip only where this HDF5 has it."""
    import h5py
    import hdf5plugin

    from dstl_hpc.prepare.stacks import DEFAULT_COMPRESSION, STACK_CHUNK, STACK_COMPRESSION

    gzip = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    shuffle = hdf5plugin.Blosc.SHUFFLE
    out: dict[str, dict] = {option_name(DEFAULT_COMPRESSION): {"write": DEFAULT_COMPRESSION}}
    for c in STACK_COMPRESSION:
        out[option_name(c)] = {"write": c}
    out.update(
        {
            "gzip_32px_chunks": {"filters": gzip, "chunks": (4, 32, 32)},
            "lzf": {"filters": {"compression": "lzf", "shuffle": True}},
            "szip": {"filters": {"compression": "szip", "compression_opts": ("nn", 16)}},
            "blosc_lz4": {"filters": hdf5plugin.Blosc("lz4", 5, shuffle)},
            "blosc_lz4hc_bitshuffle": {
                "filters": hdf5plugin.Blosc("lz4hc", 4, hdf5plugin.Blosc.BITSHUFFLE)
            },
            "blosc_zstd1": {"filters": hdf5plugin.Blosc("zstd", 1, shuffle)},
            "blosc2_lz4": {"filters": hdf5plugin.Blosc2("lz4", 5, hdf5plugin.Blosc2.SHUFFLE)},
            "blosc2_lz4hc": {"filters": hdf5plugin.Blosc2("lz4hc", 4, hdf5plugin.Blosc2.SHUFFLE)},
            "blosc_lz4hc_20x64px_chunks": {
                "filters": hdf5plugin.Blosc("lz4hc", 4, shuffle),
                "chunks": (20, 64, 64),
            },
            "blosc_lz4hc_4x128px_chunks": {
                "filters": hdf5plugin.Blosc("lz4hc", 4, shuffle),
                "chunks": (4, 128, 128),
            },
        }
    )
    for opt in out.values():
        if "filters" in opt:
            opt["filters"] = dict(opt["filters"])
            opt.setdefault("chunks", STACK_CHUNK)
    if not h5py.h5z.filter_avail(h5py.h5z.FILTER_SZIP):
        del out["szip"]
    return out


def _write(stack: Path, mask: Path, img: np.ndarray, msk: np.ndarray, opt: dict) -> None:
    """One image's stack and mask files in storage option ``opt``."""
    import h5py

    from dstl_hpc.prepare.stacks import PLANE_CHUNK, write_mask, write_stack

    for p in (stack, mask):
        p.parent.mkdir(parents=True, exist_ok=True)
    if "write" in opt:
        write_stack(stack, img, stack.stem, {}, opt["write"])
        write_mask(mask, msk, mask.stem, {}, compression=opt["write"])
        return
    with h5py.File(stack, "w") as h5:
        h5.create_dataset("image", data=img, chunks=opt["chunks"], **opt["filters"])
    with h5py.File(mask, "w") as h5:
        h5.create_dataset("mask", data=msk, chunks=PLANE_CHUNK, **opt["filters"])


def make_data(root: Path, n: int, size: int, only=None) -> tuple[dict, dict, dict]:
    """Stacks and masks in every storage option (or those named in ``only``; the same
    images); returns ({option: stack paths}, {option: mask paths}, {option: seconds
    spent writing the stacks and masks})."""
    options = storage_options()
    if only:
        unknown = sorted(set(only) - set(options))
        if unknown:
            raise SystemExit(f"--options: unknown {unknown}; known: {sorted(options)}")
        options = {k: v for k, v in options.items() if k in only or k == "gzip"}
    stacks: dict[str, list[Path]] = {k: [] for k in options}
    masks: dict[str, list[Path]] = {k: [] for k in options}
    seconds = dict.fromkeys(options, 0.0)
    for k in range(n):
        img, mask = synthetic_image(size, k)
        for name, opt in options.items():
            stacks[name].append(root / name / f"s{k}.h5")
            masks[name].append(root / name / f"m{k}.h5")
            t0 = time.perf_counter()
            _write(stacks[name][-1], masks[name][-1], img, mask, opt)
            seconds[name] += time.perf_counter() - t0
    return stacks, masks, seconds


def layout(path: Path) -> dict:
    """A stack's chunks and filters (HDF5 filter id, name and parameters, in order)."""
    import h5py

    with h5py.File(path, "r") as h5:
        ds = h5["image"]
        plist = ds.id.get_create_plist()
        filters = []
        for k in range(plist.get_nfilters()):
            code, _flags, values, name = plist.get_filter(k)
            filters.append({"id": code, "name": name.decode(), "values": list(values)})
        return {"chunks": list(ds.chunks), "filters": filters}


def whole_reads(stacks: list[Path], masks: list[Path]) -> dict:
    """Seconds per stack of reading whole stacks: ``read_stack`` (20 channels, as
    ``predict`` reads an image) and ``PatchSampler``'s in-memory load (12 channels and
    the classes' mask planes, as ``in_memory`` training loads). Best of 2."""
    from dstl_hpc.prepare.stacks import read_stack
    from dstl_hpc.train.sampler import PatchSampler

    def best(fn) -> float:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return round(min(times) / len(stacks), 3)

    s = settings(180.0, True)
    return {
        "read_stack_20_channels": best(lambda: [read_stack(p) for p in stacks]),
        "in_memory_load": best(lambda: PatchSampler(stacks, masks, CLASSES, MEAN, STD, s, True)),
    }


def _per_batch(loader) -> tuple[list[float], float]:
    """Seconds per batch after the first (warm-up: opens files, first allocations), and
    the CPU seconds this process spent on those batches (``time.process_time``: what a
    busy shared machine does not inflate as much as the wall clock)."""
    it = iter(loader)
    next(it)
    times = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in it:
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return times, time.process_time() - cpu0


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
    times, cpu = _per_batch(loader)
    return {
        "patches": batch * len(times),
        "seconds": round(sum(times), 3),
        "patches_per_s": round(batch / float(np.median(times)), 1),
        "patches_per_cpu_s": round(batch * len(times) / cpu, 1),
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


def run_cases(
    stacks: dict, masks: dict, batch: int, batches: int, default: str, rounds: int
) -> list[dict]:
    """Both paths, in memory and from each storage option, at rotate_deg 180 + flips
    and rotate_deg 15 without flips; every case ``rounds`` times, all cases once per
    round (every other round in reverse order, so that no option always runs late), and
    each case's round of most patches/s kept (other work on a shared machine only ever
    slows a round down), with every round's patches/s beside it."""
    sources = [("memory", default, True)] + [(f"hdf5_{k}", k, False) for k in stacks]
    runs: dict[tuple, list[dict]] = {}
    for r in range(rounds):
        for rot, flips in ((180.0, True), (15.0, False)):
            s = settings(rot, flips)
            for source, option, mem in sources if r % 2 == 0 else sources[::-1]:
                for path in ("device", "cpu"):
                    res = bench_feed(stacks[option], masks[option], s, mem, batch, batches, path)
                    runs.setdefault((path, source, rot, flips), []).append(res)
                    print(
                        f"round {r + 1} {path:6} {source:34} rotate {rot:3.0f} flips {flips!s:5} "
                        f"{res['patches_per_s']:8.1f} patches/s "
                        f"({res['patches_per_cpu_s']:.1f} per CPU s)",
                        flush=True,
                    )
    cases = []
    for (path, source, rot, flips), results in runs.items():
        best = max(results, key=lambda x: x["patches_per_s"])
        cases.append(
            {
                "path": path,
                "source": source,
                "rotate_deg": rot,
                "flips": flips,
                **best,
                "rounds_patches_per_s": [x["patches_per_s"] for x in results],
            }
        )
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2048, help="stack side in px (default: 2048)")
    ap.add_argument("--images", type=int, default=4, help="number of stacks (default: 4)")
    ap.add_argument("--batch", type=int, default=128, help="batch size (default: 128)")
    ap.add_argument("--batches", type=int, default=6, help="timed batches per case (default: 6)")
    ap.add_argument(
        "--rounds", type=int, default=2, help="rounds of all cases, best kept (default: 2)"
    )
    ap.add_argument(
        "--options",
        help="comma-separated storage options to run (default: all; gzip and the default "
        "are always run, the reference of the headline numbers)",
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "feed.json", help="JSON"
    )
    args = ap.parse_args()

    import cv2
    import h5py
    import hdf5plugin
    import torch

    from dstl_hpc.prepare.stacks import DEFAULT_COMPRESSION

    default = option_name(DEFAULT_COMPRESSION)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        only = [default, *args.options.split(",")] if args.options else None
        stacks, masks, write_s = make_data(Path(tmp), args.images, args.size, only)
        sizes = {k: sum(p.stat().st_size for p in v) for k, v in stacks.items()}
        mask_sizes = {k: sum(p.stat().st_size for p in v) for k, v in masks.items()}
        layouts = {k: layout(v[0]) for k, v in stacks.items()}
        os.sync()  # the files' writeback done before any timing, not during it
        cases = run_cases(stacks, masks, args.batch, args.batches, default, args.rounds)
        warp = {
            f"rotate_{rot:.0f}" + ("_flips" if flips else ""): bench_device_warp(
                stacks[default], masks[default], settings(rot, flips), args.batch
            )
            for rot, flips in ((180.0, True), (15.0, False))
        }
        whole = {k: whole_reads(stacks[k], masks[k]) for k in stacks}

    def pick(path, source, rot=180.0, key="patches_per_s"):
        return next(
            c[key]
            for c in cases
            if (c["path"], c["source"], c["rotate_deg"]) == (path, source, rot)
        )

    sources = ["memory"] + [f"hdf5_{k}" for k in stacks]
    raw = args.images * 20 * args.size**2 * 2
    results = {
        "in_memory_per_core": pick("device", "memory"),
        "hdf5_per_core": pick("device", f"hdf5_{default}"),
        "hdf5_gzip_per_core": pick("device", "hdf5_gzip"),
        "unit": "patches/s of one process, one thread (rotate_deg 180 + flips), whole "
        "batches of 128 as training gets them (median time per batch; the best of the "
        "rounds: cases[].rounds_patches_per_s has each round's); per_cpu_second: patches "
        "per CPU second of the process over the timed batches of that round",
        "note": "in_memory_per_core and hdf5_per_core: the CPU cost of the path the workflow "
        "uses on a GPU by default (augment_on auto -> device): the DataLoader only crops raw "
        "windows (CropBatches); rotation, flips, jitter and normalisation run on the GPU "
        "(device_warp_on_cpu_per_core: that work on this CPU, for information). hdf5_per_core: "
        f"stacks and masks as the workflow writes them by default ({DEFAULT_COMPRESSION}: "
        "Blosc LZ4HC + byte shuffle, chunks (4, 64, 64); masks (1, 128, 128)); "
        "hdf5_gzip_per_core: the default before it (gzip 1 + shuffle, same chunks). cpu_warp: "
        "augment_on cpu (one cv2 warp per patch in the DataLoader), the path of a CPU run. "
        "whole_stack_read_seconds: per stack, best of 2.",
        "per_core": {
            "device_crop": {src: pick("device", src) for src in sources},
            "cpu_warp": {src: pick("cpu", src) for src in sources},
        },
        "per_cpu_second": {
            "device_crop": {src: pick("device", src, key="patches_per_cpu_s") for src in sources},
            "cpu_warp": {src: pick("cpu", src, key="patches_per_cpu_s") for src in sources},
        },
        "device_warp_on_cpu_per_core": warp,
        "bytes_per_patch": bytes_per_patch(settings(180.0, True)),
        "storage": {
            k: {
                **layouts[k],
                "bytes_on_disk": sizes[k],
                "size_vs_raw": round(sizes[k] / raw, 3),
                "size_vs_gzip": round(sizes[k] / sizes["gzip"], 3),
                "mask_bytes_on_disk": mask_sizes[k],
                "write_seconds": round(write_s[k], 1),
            }
            for k in stacks
        },
        "whole_stack_read_seconds": whole,
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
            "rounds": args.rounds,
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
            "hdf5plugin": hdf5plugin.version,
            "threads": 1,
        },
        "command": "python benchmarks/feed.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"device path (crop only): in memory {results['in_memory_per_core']:.0f}, HDF5 "
        f"{default} {results['hdf5_per_core']:.0f}, gzip {results['hdf5_gzip_per_core']:.0f} "
        f"patches/s per core; cpu warp: in memory {pick('cpu', 'memory'):.0f}, HDF5 "
        f"{default} {pick('cpu', f'hdf5_{default}'):.0f}"
    )
    for k in stacks:
        print(
            f"{k:28} {sizes[k] / raw:.3f} of raw ({sizes[k] / sizes['gzip']:.2f}x gzip), whole "
            f"stack {whole[k]['read_stack_20_channels']:.2f} s, in-memory load "
            f"{whole[k]['in_memory_load']:.2f} s per stack"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
