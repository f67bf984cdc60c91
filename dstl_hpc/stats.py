"""Per-channel mean and standard deviation over training stacks, for normalisation."""

from __future__ import annotations

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.stacks import stack_info


def channel_stats(stack_paths) -> dict:
    """Exact mean/std per channel over every pixel of every stack (streamed, float64 sums)."""
    import h5py

    total = None
    total_sq = None
    count = 0
    channels = None
    ids = []
    for path in stack_paths:
        info = stack_info(path)
        channels = channels or info["channels"]
        if info["channels"] != channels:
            raise DstlError(f"{path}: channels {info['channels']} differ from {channels}")
        ids.append(info["image_id"])
        with h5py.File(path, "r") as h5:
            ds = h5["image"]
            rows = ds.chunks[1] if ds.chunks else 256
            for r in range(0, ds.shape[1], rows):
                block = ds[:, r : r + rows].astype(np.float64).reshape(ds.shape[0], -1)
                s, sq = block.sum(axis=1), (block * block).sum(axis=1)
                total = s if total is None else total + s
                total_sq = sq if total_sq is None else total_sq + sq
                count += block.shape[1]
    if not count:
        raise DstlError("stats: no training stacks given")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    std = np.where(std > 0, std, 1.0)
    return {
        "channels": list(channels),
        "mean": [round(float(v), 4) for v in mean],
        "std": [round(float(v), 4) for v in std],
        "images": ids,
        "pixels": int(count),
    }
