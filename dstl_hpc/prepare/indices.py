"""Spectral index channels, computed from a stack's M bands at load time.

The ``indices`` setting of a group (e.g. ``[ndwi, ccci]``) adds these planes after the
stack's first ``n_channels`` channels: training, validation and prediction compute
them from the same stack pixels, and ``stats.json`` holds their mean and std like
any channel's. WorldView-3's eight M bands are coastal, blue, green, yellow, red,
red edge, NIR1 and NIR2 (M1..M8):

- ``ndvi`` = (NIR1 - red) / (NIR1 + red): vegetation;
- ``ndwi`` = (green - NIR2) / (green + NIR2): open water (McFeeters);
- ``ccci`` = ((NIR1 - red edge) / (NIR1 + red edge)) / ndvi: canopy chlorophyll,
  which the DSTL 3rd place used with ndwi to find water;
- ``evi`` = 2.5 (NIR1 - red) / (NIR1 + 6 red - 7.5 blue + 1) and
  ``savi`` = 1.5 (NIR1 - red) / (NIR1 + red + 0.5), on the bands scaled to [0, 1]
  (DN / 2047, a stand-in for reflectance).

Each index is clipped to its range and stored as uint16 (0..65535 over the range),
so that index planes travel with the stack's channels (same dtype) through the
sampler, the HDF5 windows and the device augmentation. ``index_value`` maps back.
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.sources.dstl import CHANNELS

BAND = {name: i for i, name in enumerate(CHANNELS)}
# name -> (lowest, highest) value kept
RANGES = {
    "ndvi": (-1.0, 1.0),
    "ndwi": (-1.0, 1.0),
    "ccci": (-2.0, 2.0),
    "evi": (-1.0, 1.0),
    "savi": (-1.5, 1.5),
}
INDICES = tuple(RANGES)  # the choices of the `indices` setting (a test keeps them equal)
# Source channels an index needs: M bands, i.e. the first 12 channels of a stack.
SOURCE_CHANNELS = 1 + max(BAND[b] for b in ("M2", "M3", "M5", "M6", "M7", "M8"))
DN_SCALE = 2047.0  # 11-bit M bands


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _ratio(a - b, a + b)


def index_value(name: str, bands) -> np.ndarray:
    """float32 values of index ``name`` from a mapping band name -> float32 plane."""
    m = bands
    if name == "ndvi":
        return _nd(m["M7"], m["M5"])
    if name == "ndwi":
        return _nd(m["M3"], m["M8"])
    if name == "ccci":
        return _ratio(_nd(m["M7"], m["M6"]), _nd(m["M7"], m["M5"]))
    n, r, b = (m[k] / DN_SCALE for k in ("M7", "M5", "M2"))
    if name == "evi":
        return 2.5 * _ratio(n - r, n + 6.0 * r - 7.5 * b + 1.0)
    if name == "savi":
        return 1.5 * _ratio(n - r, n + r + 0.5)
    raise ValueError(f"unknown index {name!r}; known: {', '.join(INDICES)}")


def quantize(name: str, value: np.ndarray) -> np.ndarray:
    lo, hi = RANGES[name]
    scaled = (np.clip(value, lo, hi) - lo) * (65535.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint16)


def dequantize(name: str, q: np.ndarray) -> np.ndarray:
    lo, hi = RANGES[name]
    return q.astype(np.float32) * ((hi - lo) / 65535.0) + lo


def index_planes(stack: np.ndarray, names, axis: int = 0) -> np.ndarray:
    """uint16 planes of the indices ``names`` of ``stack`` (uint16, its first
    SOURCE_CHANNELS channels along ``axis`` at least): (k, ...) stacked on ``axis``."""
    if stack.shape[axis] < SOURCE_CHANNELS:
        raise ValueError(
            f"index channels need the first {SOURCE_CHANNELS} channels (R..M8), "
            f"got {stack.shape[axis]}"
        )
    used = ("M2", "M3", "M5", "M6", "M7", "M8")
    bands = {b: np.take(stack, BAND[b], axis=axis).astype(np.float32) for b in used}
    planes = [quantize(n, index_value(n, bands)) for n in names]
    return np.stack(planes, axis=axis)


def with_indices(stack: np.ndarray, n_channels: int, names, axis: int = 0) -> np.ndarray:
    """The model's input planes: the first ``n_channels`` of ``stack`` (uint16, its
    channels on ``axis``), then the index planes of ``names``."""
    first = np.take(stack, range(n_channels), axis=axis)
    if not names:
        return first
    return np.concatenate([first, index_planes(stack, names, axis)], axis=axis)


def source_channels(n_channels: int, names) -> int:
    """How many of a stack's channels must be read for this input."""
    return max(n_channels, SOURCE_CHANNELS) if names else n_channels
