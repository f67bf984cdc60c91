"""``stats.json``: per-channel mean and standard deviation over the training stacks, for
normalisation; written by ``channel_stats`` (``dstl-hpc stats``), read and checked by
``read_stats`` / ``check_stats`` (training; the model file then carries the values).

Contract: ``{"channels": [names], "mean": [numbers], "std": [numbers], "images":
[ids], "pixels": n}`` (geo chips add ``"bands"``): one mean and one std per channel
name, every mean finite, every std finite and > 0.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.prepare.indices import INDICES, SOURCE_CHANNELS, index_planes
from dstl_hpc.prepare.stacks import open_h5
from dstl_hpc.sources.dstl import CHANNELS

log = logging.getLogger(__name__)

DSTL_NAMES = list(CHANNELS[:SOURCE_CHANNELS])
# The least std written: one digital number, the stacks' quantisation step. A channel
# that varies less over the training pixels (a constant band: std 0) is normalised
# with it, its values reaching the model shifted by the mean and unscaled, with a
# warning naming the channels and the images; dividing by its own (near) zero std
# would blow any other value up to thousands of standard deviations, or to infinity.
STD_FLOOR = 1.0


def _planes(block: np.ndarray, dstl: bool = True) -> np.ndarray:
    """A block's channels, then (DSTL channels) its index planes (dstl_hpc.prepare.indices),
    as float64 rows."""
    if dstl and block.shape[0] >= SOURCE_CHANNELS:
        block = np.concatenate([block, index_planes(block, INDICES)])
    return block.astype(np.float64).reshape(block.shape[0], -1)


def channel_stats(stack_paths, where="stats") -> dict:
    """Exact mean/std per channel over every pixel of every stack (streamed, float64
    sums); then the same for each index channel (``dstl_hpc.prepare.indices``), named after it.
    A stack with a ``valid`` plane (geo chips) counts only its valid pixels. A std
    below ``STD_FLOOR`` is raised to it, with a warning naming ``where`` (the output)."""
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
        what = f"no valid pixel in the {len(ids)} training stacks" if ids else "no training stacks"
        raise DstlError(f"{where}: {what} given")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    if len(mean) > len(channels):
        channels = [*channels, *INDICES]
    std = _floored(std, channels, ids, where)
    return {
        "channels": list(channels),
        "mean": [round(float(v), 4) for v in mean],
        "std": [round(float(v), 4) for v in std],
        "images": ids,
        "pixels": int(count),
        **({"bands": json.loads(bands)} if bands else {}),
    }


def _floored(std: np.ndarray, channels, ids, where) -> np.ndarray:
    """``std`` with the values below ``STD_FLOOR`` raised to it (warned about)."""
    low = [k for k, v in enumerate(std) if v < STD_FLOOR]
    if low:
        shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} images)" if len(ids) > 5 else "")
        log.warning(
            "%s: channel(s) %s vary by less than one digital number over the training "
            "images (%s): std %s raised to %g (these channels carry no information)",
            where,
            ", ".join(str(channels[k]) for k in low),
            shown,
            ", ".join(f"{std[k]:.3g}" for k in low),
            STD_FLOOR,
        )
    return np.maximum(std, STD_FLOOR)


def _numbers(stats: dict, key: str, where) -> list[float]:
    vals = stats.get(key)
    if not isinstance(vals, list) or not vals:
        raise DstlError(f"{where}: {key!r} must be a non-empty list of numbers")
    for k, v in enumerate(vals):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise DstlError(f"{where}: {key}[{k}] is {v!r}, not a number")
    return [float(v) for v in vals]


def check_stats(stats, where="stats") -> dict:
    """``stats`` (a stats.json's object) checked against the contract; with
    ``channels`` filled in (the DSTL names) when an older file lacks them. A DstlError
    names ``where`` and the channel otherwise."""
    if not isinstance(stats, dict):
        raise DstlError(f"{where}: expected a JSON object {{channels, mean, std, ...}}")
    mean, std = _numbers(stats, "mean", where), _numbers(stats, "std", where)
    if len(mean) != len(std):
        raise DstlError(f"{where}: {len(mean)} means but {len(std)} stds")
    names = stats.get("channels", list(CHANNELS[: len(mean)]))
    if not isinstance(names, list) or len(names) != len(mean):
        raise DstlError(f"{where}: 'channels' must list one name per mean ({len(mean)})")
    for k, name in enumerate(names):
        if not math.isfinite(mean[k]):
            raise DstlError(f"{where}: mean of channel {name} is {mean[k]} (not finite)")
        if not (math.isfinite(std[k]) and std[k] > 0):
            raise DstlError(f"{where}: std of channel {name} is {std[k]} (must be finite and > 0)")
    return {**stats, "channels": [str(n) for n in names], "mean": mean, "std": std}


def read_stats(path) -> dict:
    """The stats JSON of ``path``, checked (``check_stats``)."""
    path = Path(path)
    check_regular(path)
    try:
        stats = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DstlError(f"{path}: not a JSON stats file ({exc})") from None
    return check_stats(stats, path)
