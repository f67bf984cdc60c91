"""A band warped by its shift and upscaled to the RGB size (:func:`resample_band`).

``mode="direct"`` (default): each band is warped and upscaled to the RGB size in one
``cv2.warpAffine`` (cubic, ``WARP_INVERSE_MAP``, replicated border): RGB pixel X
samples the band at ``(X + 0.5) * w / W - 0.5 + dx``. ``"two_step"`` is the reference
solution's way (linear warp at the band's size, then cubic resize). Either way the
RGB pixels whose position falls outside the band's footprint get the band's mean,
not 0.
"""

from __future__ import annotations

import cv2
import numpy as np

U16_MAX = 65535


def _outside(n_out: int, scale: float, shift: float, n_band: int) -> np.ndarray:
    """Output pixels (1-D) whose centre falls outside the band's extent [0, n_band]."""
    pos = (np.arange(n_out) + 0.5) * scale + shift
    return (pos < 0) | (pos > n_band)


def _as_cv(src: np.ndarray) -> np.ndarray:
    """An array cv2.warpAffine takes as it is (uint16 / float32), else float32."""
    if src.dtype in (np.uint16, np.float32) and src.flags.c_contiguous:
        return src
    return np.ascontiguousarray(src, dtype=np.float32)


def _store(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy into uint16 ``dst``, rounding and clipping to the uint16 range."""
    if src.dtype == np.uint16:
        dst[...] = src
    else:
        np.copyto(dst, np.clip(np.rint(src), 0, U16_MAX), casting="unsafe")


def _direct(src: np.ndarray, dx: float, dy: float, size: tuple[int, int]):
    """(resampled channel, output columns outside the band, rows outside the band)."""
    H, W = size
    h, w = src.shape
    sx, sy = w / W, h / H
    if (h, w) == (H, W) and dx == 0 and dy == 0:
        res = src
    else:
        matrix = np.array(
            [[sx, 0.0, 0.5 * sx - 0.5 + dx], [0.0, sy, 0.5 * sy - 0.5 + dy]], np.float64
        )
        res = cv2.warpAffine(
            _as_cv(src),
            matrix,
            (W, H),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return res, _outside(W, sx, dx, w), _outside(H, sy, dy, h)


def _two_step(src: np.ndarray, dx: float, dy: float, size: tuple[int, int], mean: float):
    """The resampled channel: warped at the band's size (what falls outside the band
    set to ``mean``), then upscaled."""
    H, W = size
    h, w = src.shape
    res = src.astype(np.float32)
    if dx != 0 or dy != 0:
        matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float64)
        res = cv2.warpAffine(
            res,
            matrix,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        res[:, _outside(w, 1.0, dx, w)] = mean
        res[_outside(h, 1.0, dy, h), :] = mean
    if (h, w) != (H, W):
        res = cv2.resize(res, (W, H), interpolation=cv2.INTER_CUBIC)
    return res


def _resample_channel(src, dx: float, dy: float, size, mode: str, dst: np.ndarray) -> None:
    """One (h, w) channel into uint16 (H, W) ``dst``; outside pixels get its mean."""
    mean = float(src.mean(dtype=np.float64))
    if mode == "direct":
        res, cols, rows = _direct(src, dx, dy, size)
    elif mode == "two_step":
        res, cols, rows = _two_step(src, dx, dy, size, mean), None, None
    else:
        raise ValueError(f"unknown resample mode {mode!r}")
    _store(dst, res)
    fill = min(max(round(mean), 0), U16_MAX)
    if cols is not None and cols.any():
        dst[:, cols] = fill
    if rows is not None and rows.any():
        dst[rows, :] = fill


def resample_band(
    band: np.ndarray,
    shift: tuple[float, float],
    size: tuple[int, int],
    mode: str = "direct",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Warp (C, h, w) ``band`` so its content lines up with RGB and upscale it to (H, W).

    ``shift`` is the band's (dx, dy) in band pixels. Returns (C, H, W) uint16 (written
    into ``out`` when given); pixels outside the band's footprint get the channel mean.
    """
    H, W = int(size[0]), int(size[1])
    C, _, _ = band.shape
    dx, dy = float(shift[0]), float(shift[1])
    if out is None:
        out = np.empty((C, H, W), np.uint16)
    for c in range(C):
        _resample_channel(band[c], dx, dy, (H, W), mode, out[c])
    return out
