"""Small image helpers of the alignment: percentile scaling, grey means, resizing and
the area-downsampled copies that coarse estimates work on."""

from __future__ import annotations

import math

import cv2
import numpy as np

from dstl_hpc.prepare.align.options import REF_INTERP, AlignmentFailed

PERCENTILE_SAMPLES = 1_000_000  # pixels sampled for the 1st / 99th percentiles


def unit_scale(img: np.ndarray) -> np.ndarray:
    """float32 copy with the 1st..99th percentile mapped onto [0, 1] (clipped).

    Raises AlignmentFailed for an image without contrast (all pixels in one value).
    """
    a = np.asarray(img, dtype=np.float32)
    flat = a.ravel()
    step = max(1, flat.size // PERCENTILE_SAMPLES)
    lo, hi = np.percentile(flat[::step], (1.0, 99.0))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise AlignmentFailed("non-finite pixel values")
    if hi <= lo:
        lo, hi = float(flat.min()), float(flat.max())
        if hi <= lo:
            raise AlignmentFailed("the image is constant")
    out = (a - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    return out


def grey(bands: np.ndarray) -> np.ndarray:
    """Mean of the channels of a (C, H, W) array as float32 (H, W)."""
    bands = np.asarray(bands)
    out = bands[0].astype(np.float32)
    for c in range(1, bands.shape[0]):
        out += bands[c]
    out *= np.float32(1.0 / bands.shape[0])
    return out


def resize_to(img: np.ndarray, shape: tuple[int, int], method: str = "area") -> np.ndarray:
    """Resize a 2-D image to (h, w) with the pixel-centre convention of cv2.resize."""
    h, w = int(shape[0]), int(shape[1])
    if img.shape == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=REF_INTERP[method])


def resized(channels, shape: tuple[int, int], method: str) -> list[np.ndarray]:
    """Each channel as float32, resized to (h, w) (see :func:`resize_to`)."""
    return [resize_to(c.astype(np.float32), shape, method) for c in channels]


def coarse_shape(shape: tuple[int, int], side: int) -> tuple[int, tuple[int, int]]:
    """(f, (h / f, w / f)) with f the factor that brings the longer side to at most about
    ``side`` px (each side at least 2); f <= 1 leaves the shape as it is."""
    h, w = shape
    f = math.ceil(max(h, w) / side)
    if f <= 1:
        return f, (h, w)
    return f, (max(2, round(h / f)), max(2, round(w / f)))


def shrink(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float32 copy area-resized to (h, w)."""
    return cv2.resize(
        np.asarray(img, np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA
    )


def upscale_shift(d, small: tuple[int, int], shape: tuple[int, int]) -> tuple[float, float]:
    """A shift found on a ``small`` copy, in pixels of the full ``shape``."""
    (hs, ws), (h, w) = small, shape
    return (d[0] * w / ws, d[1] * h / hs)
