"""The TIFFs of one image (RGB, P, M, A), read and checked: dimensions, NaN / inf
pixels, dtype, and band shapes that fit the RGB image."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.sources.dstl.layout import BAND_CHANNELS, Layout

log = logging.getLogger("dstl_hpc.sources.dstl")


@contextmanager
def _tiff_errors(path: Path):
    """DstlError naming the file when it is missing or tifffile cannot read it."""
    check_regular(path)
    try:
        yield
    except Exception as exc:
        raise DstlError(f"{path}: cannot read TIFF ({type(exc).__name__}: {exc})") from None


def _read_tiff(path: Path, ndim: int, channels: int | None):
    import numpy as np
    import tifffile

    with _tiff_errors(path):
        arr = tifffile.imread(path)
    if arr.ndim != ndim or (channels is not None and arr.shape[0] != channels):
        want = f"{channels} x H x W" if channels else "H x W"
        raise DstlError(f"{path}: shape {arr.shape}, expected {want}")
    if min(arr.shape[-2:]) < 2:
        raise DstlError(f"{path}: image of shape {arr.shape} is too small")
    arr = np.asarray(arr)
    if arr.dtype != np.uint16:
        log.warning("%s: dtype %s, expected uint16; read as it is", path, arr.dtype)
    bad = non_finite_count(arr)
    if bad:
        raise DstlError(f"{path}: {bad} NaN/inf pixel(s) of {arr.size}")
    return arr


def non_finite_count(arr) -> int:
    """How many values of an array are NaN or +-inf (0 for integer arrays)."""
    import numpy as np

    if arr.dtype.kind not in "fc":
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def band_shape_problem(band: str, shape, rgb_shape, rgb: str = "the RGB image") -> str | None:
    """Why a band of (h, w) ``shape`` cannot belong to an RGB image of ``rgb_shape``, or None.

    P must have about the RGB size, M and A (about 1/4 and 1/24 of it) its aspect ratio;
    the tolerance (5 % + 1.5 band px) allows for the rounding of the band sizes.
    """
    h, w = (int(n) for n in shape[-2:])
    big_h, big_w = (int(n) for n in rgb_shape[-2:])
    sy, sx = big_h / h, big_w / w
    tol = 0.05 + 1.5 / min(h, w)
    sizes = f"{band} band of {h} x {w} px"
    if band == "P" and max(abs(sy - 1), abs(sx - 1)) > tol:
        return f"{sizes} is not the size of {rgb} ({big_h} x {big_w} px)"
    if max(sy, sx) / min(sy, sx) - 1 > tol:
        return (
            f"{sizes} does not have the aspect ratio of {rgb} ({big_h} x {big_w} px): "
            f"scaled {sy:.3g} x vertically, {sx:.3g} x horizontally"
        )
    return None


def read_rgb(layout: Layout, image_id: str):
    """(3, H, W) uint16."""
    return _read_tiff(layout.three_band(image_id), 3, 3)


def read_band(layout: Layout, image_id: str, band: str):
    """P: (h, w) ~ (H, W); M and A: (8, h, w) with the RGB image's aspect ratio."""
    path = layout.sixteen_band(image_id, band)
    if band == "P":
        arr = _read_tiff(path, 2, None)
    else:
        arr = _read_tiff(path, 3, BAND_CHANNELS[band])
    rgb = layout.three_band(image_id)
    problem = band_shape_problem(band, arr.shape, image_size(layout, image_id), str(rgb))
    if problem:
        raise DstlError(f"{path}: {problem}")
    return arr


def image_size(layout: Layout, image_id: str) -> tuple[int, int]:
    """(H, W) of the RGB image, read from the TIFF header only."""
    import tifffile

    path = layout.three_band(image_id)
    with _tiff_errors(path), tifffile.TiffFile(path) as tif:
        shape = tif.series[0].shape
    if len(shape) != 3 or shape[0] != 3:
        raise DstlError(f"{path}: shape {shape}, expected 3 x H x W")
    return int(shape[1]), int(shape[2])
