"""Per-channel mean and standard deviation over training stacks, for normalisation."""

from __future__ import annotations

import json

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.indices import INDICES, SOURCE_CHANNELS, index_planes
from dstl_hpc.prepare.stacks import open_h5
from dstl_hpc.sources.dstl import CHANNELS

DSTL_NAMES = list(CHANNELS[:SOURCE_CHANNELS])


def _planes(block: np.ndarray, dstl: bool = True) -> np.ndarray:
    """A block's channels, then (DSTL channels) its index planes (dstl_hpc.prepare.indices),
    as float64 rows."""
    if dstl and block.shape[0] >= SOURCE_CHANNELS:
        block = np.concatenate([block, index_planes(block, INDICES)])
    return block.astype(np.float64).reshape(block.shape[0], -1)


def channel_stats(stack_paths) -> dict:
    """Exact mean/std per channel over every pixel of every stack (streamed, float64
    sums); then the same for each index channel (``dstl_hpc.prepare.indices``), named after it.
    A stack with a ``valid`` plane (geo chips) counts only its valid pixels."""
    total = None
    total_sq = None
    count = 0
    channels = None
    ids = []
    bands = None  # geo chips: the bands a model trained on them records
    for path in stack_paths:
        with open_h5(path, "image") as h5:
            bands = bands or h5.attrs.get("bands")
            names = [str(c) for c in h5.attrs.get("channels", CHANNELS)]
            channels = channels or names
            if names != channels:
                raise DstlError(f"{path}: channels {names} differ from {channels}")
            ids.append(str(h5.attrs.get("image_id", "")))
            ds = h5["image"]
            valid = h5["valid"] if "valid" in h5 else None  # geo chips: nodata left out
            rows = ds.chunks[1] if ds.chunks else 256
            for r in range(0, ds.shape[1], rows):
                block = _planes(ds[:, r : r + rows], names[:SOURCE_CHANNELS] == DSTL_NAMES)
                if valid is not None:
                    block = block[:, valid[0, r : r + rows].ravel().astype(bool)]
                s, sq = block.sum(axis=1), (block * block).sum(axis=1)
                total = s if total is None else total + s
                total_sq = sq if total_sq is None else total_sq + sq
                count += block.shape[1]
    if not count:
        raise DstlError("stats: no training stacks given")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    std = np.where(std > 0, std, 1.0)
    if len(mean) > len(channels):
        channels = [*channels, *INDICES]
    return {
        "channels": list(channels),
        "mean": [round(float(v), 4) for v in mean],
        "std": [round(float(v), 4) for v in std],
        "images": ids,
        "pixels": int(count),
        **({"bands": json.loads(bands)} if bands else {}),
    }
