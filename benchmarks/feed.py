"""Benchmark: the training input feed on its own (no model), patches/s of ONE process.

    python benchmarks/feed.py [--size 2048] [--images 4] [--batches 6] [--batch 128]

One process, one thread (``torch.set_num_threads(1)``, ``cv2.setNumThreads(1)``)
produces batches exactly as ``dstl_hpc.train`` consumes them: a ``DataLoader``
(``num_workers=0``, ``batch_size=None``) over ``PatchBatches`` of a ``PatchDataset`` /
``PatchSampler`` (batches written into reused buffers; torch's default collate is
measured beside it, as ``default_collate_per_s``) with
the seed's settings (12 channels, 96 px input, 64 px target, 2 classes, batch 128),
giving normalised float32 tensors (B, 12, 96, 96) and masks (B, 2, 64, 64).

Data: ``--images`` synthetic stacks of ``--size`` x ``--size`` (smooth fields plus
pixel noise, so that they compress like imagery rather than like random numbers)
and masks, written with ``dstl_hpc.stacks.write_stack`` / ``write_mask`` (the
current chunk layout) into a temporary directory. A copy of the stacks in the
layout used before (chunks (20, 128, 128)) is measured too, read by the same
sampler. The files were just written, so they are in the OS page cache: this
measures decompression and copying, not the disk, which is the steady state of a
node whose page cache holds the training stacks.

Cases: (a) stacks in memory, (b) read from HDF5; each with rotate_deg 180 + flips
(the heaviest seed setting; the headline numbers ``in_memory_per_core`` and
``hdf5_per_core``) and with rotate_deg 15 without flips. A DataLoader with k
workers delivers about k times the per-core number (the patches are independent).

Writes benchmarks/results/feed.json and prints a table. About a minute on 1 core.
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

from dstl_hpc.settings import merge_settings  # noqa: E402

CLASSES = [1, 2]
MEAN = [400.0] * 20
STD = [100.0] * 20
LEGACY_CHUNKS = (20, 128, 128)  # the stack layout before benchmarks/feed.py existed


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


def _write_h5(path: Path, name: str, data: np.ndarray, chunks, compressed: bool) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"compression": "gzip", "compression_opts": 1, "shuffle": True} if compressed else {}
    with h5py.File(path, "w") as h5:
        h5.create_dataset(name, data=data, chunks=chunks, **kwargs)


def make_data(root: Path, n: int, size: int) -> dict:
    """Stacks and masks in the current layout (``write_stack`` / ``write_mask``), in the
    legacy layout (chunks (20, 128, 128) / (10, 128, 128), gzip 1 + shuffle), and
    uncompressed in the current chunk shape (a data point: no inflating at all)."""
    from dstl_hpc.stacks import STACK_CHUNK, write_mask, write_stack

    out = {k: ([], []) for k in ("current", "legacy", "uncompressed")}
    for k in range(n):
        img, mask = synthetic_image(size, k)
        paths = {v: (root / v / f"s{k}.h5", root / v / f"m{k}.h5") for v in out}
        write_stack(paths["current"][0], img, f"im{k}", {})
        write_mask(paths["current"][1], mask, f"im{k}", {})
        _write_h5(paths["legacy"][0], "image", img, LEGACY_CHUNKS, True)
        _write_h5(paths["legacy"][1], "mask", mask, (10, 128, 128), True)
        _write_h5(paths["uncompressed"][0], "image", img, STACK_CHUNK, False)
        write_mask(paths["uncompressed"][1], mask, f"im{k}", {})
        for v, (sp, mp) in paths.items():
            out[v][0].append(sp)
            out[v][1].append(mp)
    return out


def layout(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as h5:
        ds = h5["image"]
        return {
            "chunks": list(ds.chunks),
            "compression": ds.compression,
            "compression_opts": ds.compression_opts,
            "shuffle": ds.shuffle,
        }


def bench_feed(stacks, masks, s: dict, in_memory: bool, batch: int, batches: int) -> dict:
    """patches/s of one process producing training batches (DataLoader, 0 workers).

    ``patches_per_s``: whole batches as training gets them (``PatchBatches`` through a
    DataLoader with batch_size None: sampling into reused batch buffers);
    ``default_collate_per_s``: the same batches through torch's default collate (what
    training used before); ``sample_only_per_s``: the patches alone (``dataset[i]``).
    All from the median time per batch, robust to other load on a shared machine.
    """
    import torch

    from dstl_hpc.sampler import PatchBatches, PatchDataset, PatchSampler

    sp = PatchSampler(stacks, masks, CLASSES, MEAN, STD, s, in_memory)
    ds = PatchDataset(sp, batch * (batches + 1), seed=0)

    def per_batch(loader):
        it = iter(loader)
        x, y = next(it)  # warm-up: opens files, first allocations
        assert x.shape == (batch, 12, 96, 96) and x.dtype == torch.float32
        assert y.shape == (batch, len(CLASSES), 64, 64) and y.dtype == torch.float32
        times = []
        t0 = time.perf_counter()
        for _ in it:
            t1 = time.perf_counter()
            times.append(t1 - t0)
            t0 = t1
        return times

    times = per_batch(
        torch.utils.data.DataLoader(PatchBatches(ds, batch), batch_size=None, num_workers=0)
    )
    collated = per_batch(
        torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=0, drop_last=True)
    )
    alone = []
    for k in range(1, batches + 1):
        t0 = time.perf_counter()
        for i in range(k * batch, (k + 1) * batch):
            ds[i]
        alone.append(time.perf_counter() - t0)
    return {
        "patches": batch * len(times),
        "seconds": round(sum(times), 3),
        "patches_per_s": round(batch / float(np.median(times)), 1),
        "default_collate_per_s": round(batch / float(np.median(collated)), 1),
        "sample_only_per_s": round(batch / float(np.median(alone)), 1),
    }


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
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = make_data(Path(tmp), args.images, args.size)
        write_s = time.perf_counter() - t0
        sizes = {v: sum(p.stat().st_size for p in data[v][0]) for v in data}
        lay = {v: layout(data[v][0][0]) for v in data}
        for rot, flips in ((180.0, True), (15.0, False)):
            s = settings(rot, flips)
            for source, variant, mem in (
                ("memory", "current", True),
                ("hdf5", "current", False),
                ("hdf5_legacy_layout", "legacy", False),
                ("hdf5_uncompressed", "uncompressed", False),
            ):
                stacks, masks = data[variant]
                r = bench_feed(stacks, masks, s, mem, args.batch, args.batches)
                cases.append({"source": source, "rotate_deg": rot, "flips": flips, **r})
                print(
                    f"{source:20} rotate {rot:5.0f} flips {flips!s:5} "
                    f"{r['patches_per_s']:8.1f} patches/s "
                    f"(default collate {r['default_collate_per_s']:.1f}, "
                    f"patches alone {r['sample_only_per_s']:.1f})",
                    flush=True,
                )

    def pick(source):
        return next(
            c["patches_per_s"] for c in cases if c["source"] == source and c["rotate_deg"] == 180
        )

    raw = args.images * 20 * args.size**2 * 2
    results = {
        "in_memory_per_core": pick("memory"),
        "hdf5_per_core": pick("hdf5"),
        "hdf5_legacy_layout_per_core": pick("hdf5_legacy_layout"),
        "hdf5_uncompressed_per_core": pick("hdf5_uncompressed"),
        "unit": "patches/s of one process, one thread (rotate_deg 180 + flips), whole "
        "batches as training gets them: PatchBatches, reused buffers (median time per batch)",
        "cases": cases,
        "data": {
            "images": args.images,
            "size": [args.size, args.size],
            "synthetic": "smooth landscape + texture + noise per band resolution, upsampled "
            "(see synthetic_image); uint16, 20 channels; masks: 16 px blocks",
            "page_cached": True,
            "note": "files were just written: reads come from the OS page cache (the steady "
            "state of a node), so HDF5 numbers measure decompression, not the disk",
            "write_seconds": round(write_s, 1),
            "raw_bytes": raw,
            "stack_bytes_on_disk": sizes,
            "stack_size_vs_raw": {v: round(b / raw, 3) for v, b in sizes.items()},
            "stack_size_current_vs_legacy": round(sizes["current"] / sizes["legacy"], 3),
        },
        "layout": lay,
        "feed": {
            "n_channels": 12,
            "input": 96,
            "output": 64,
            "classes": CLASSES,
            "batch": args.batch,
            "timed_batches": args.batches,
            "loader": "torch DataLoader, num_workers=0, batch_size=None, PatchBatches",
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
        f"in memory {results['in_memory_per_core']:.0f}, HDF5 {results['hdf5_per_core']:.0f} "
        f"(legacy layout {results['hdf5_legacy_layout_per_core']:.0f}) patches/s per core; "
        f"stacks {sizes['current'] / 2**20:.1f} MiB (legacy layout {sizes['legacy'] / 2**20:.1f})"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
