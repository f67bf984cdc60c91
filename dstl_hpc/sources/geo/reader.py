"""Windows of a scene grid read from the scene's files, with where they hold data.

``read_window`` (or ``SceneReader``, to read many windows with the files opened once)
reads one window of the grid (``dstl_hpc.sources.geo.grid``) from every file through a
``rasterio.vrt.WarpedVRT`` (nearest when the file already sits on the grid's pixels,
bilinear otherwise), so memory is bounded by the window, never the scene. It returns the
image as uint16 (C, h, w) and ``valid`` (h, w): 1 where every chosen band of every file
has data (not nodata, inside the per-dataset mask / alpha, inside the file's footprint).
Bands that are not uint8/uint16 are mapped to 0..65535 from a value range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import numpy as np
import rasterio.windows
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.grid import (
    SNAP_TOL,
    SceneFile,
    SceneGrid,
    as_window,
    band_file,
    chosen_bands,
    inspect_files,
    open_raster,
)

# dtypes that reach the model unchanged; any other is mapped from a value range.
NATIVE_DTYPES = ("uint8", "uint16")


def _value_range(value_ranges, position: int):
    if value_ranges is None:
        return None
    if isinstance(value_ranges, Mapping):
        return value_ranges.get(position)
    return value_ranges  # one (lo, hi) for every band


def check_ranges(bands: list[dict], value_ranges) -> list[tuple[float, float] | None]:
    """The (lo, hi) of each band that needs one (None for uint8/uint16 bands)."""
    out = []
    for b in bands:
        if b["dtype"] in NATIVE_DTYPES:
            out.append(None)
            continue
        vr = _value_range(value_ranges, b["position"])
        if vr is None:
            raise DstlError(
                f"{b['file']}: band {b['index']} is {b['dtype']}: set data.value_range "
                "(the values mapped to 0..65535)"
            )
        lo, hi = (float(v) for v in vr)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise DstlError(
                f"config data.value_range for {b['file']} band {b['index']}: "
                f"[{lo}, {hi}] needs lo < hi"
            )
        out.append((lo, hi))
    return out


def _to_uint16(a: np.ndarray, vr: tuple[float, float] | None) -> np.ndarray:
    if vr is None:
        return a.astype(np.uint16, copy=False)
    lo, hi = vr
    scaled = (a.astype(np.float64) - lo) * (65535.0 / (hi - lo))
    return np.rint(np.clip(np.nan_to_num(scaled, nan=0.0), 0, 65535)).astype(np.uint16)


def _resampling(src, grid: SceneGrid) -> Resampling:
    """Nearest when the file's pixels are the grid's pixels (same CRS, resolution and
    phase): a plain copy. Bilinear otherwise (coarser, finer, shifted or reprojected)."""
    if src.crs != grid.crs or not src.transform.is_rectilinear:
        return Resampling.bilinear
    if not np.allclose(src.res, grid.resolution, rtol=1e-9, atol=0):
        return Resampling.bilinear
    w = rasterio.windows.from_bounds(*src.bounds, transform=grid.affine)
    phase = [abs(v - round(v)) for v in (w.col_off, w.row_off)]
    return Resampling.nearest if max(phase) < SNAP_TOL else Resampling.bilinear


class FileReader:
    """One file warped onto the grid, with how its validity is read."""

    def __init__(self, stack: ExitStack, f: SceneFile, grid: SceneGrid, shift=None):
        self.src = stack.enter_context(open_raster(f.path))
        self.path = f.path
        self.bands = chosen_bands(self.src, f)
        src = self.src
        kw = dict(
            crs=grid.crs,
            transform=grid.affine,
            width=grid.width,
            height=grid.height,
            resampling=_resampling(src, grid),
        )
        if shift is not None and any(shift):
            # a misregistered file (ECC, data.align): its content appears (dx, dy) grid
            # pixels off; moving its georeference back by that much puts it in place
            if src.crs != grid.crs:
                raise DstlError(f"{f.path}: data.align corrects files in the grid's CRS only")
            dx, dy = shift
            move = Affine.translation(-dx * grid.affine.a, -dy * grid.affine.e)
            kw.update(src_transform=move * src.transform, resampling=Resampling.bilinear)
        alpha = [i for i in src.indexes if src.colorinterp[i - 1] == ColorInterp.alpha]
        if src.nodata is not None:
            # nodata: the VRT writes it where a band has none and outside the footprint
            self.alpha = None
            kw.update(src_nodata=src.nodata, nodata=src.nodata)
        elif alpha:  # the file's alpha band is warped with it (0 outside the footprint)
            self.alpha = alpha[0]
        else:  # an added alpha: the per-dataset mask and the footprint
            self.alpha = src.count + 1
            kw.update(add_alpha=True)
        self.vrt = stack.enter_context(WarpedVRT(src, **kw))

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        data = self.vrt.read(self.bands, window=window)
        if self.alpha is not None:
            valid = self.vrt.read(self.alpha, window=window) > 0
        else:
            nd = self.vrt.nodata
            bad = np.isnan(data) if np.isnan(nd) else data == nd
            valid = ~bad.any(axis=0)
        if data.dtype.kind == "f":
            valid &= np.isfinite(data).all(axis=0)
        return data, valid


class SceneReader:
    """The files of a scene opened once, to read many windows of its grid:
    ``with SceneReader(files, grid, value_ranges) as r: image, valid = r.read(window)``."""

    def __init__(self, files: Sequence, grid: SceneGrid, value_ranges=None, shifts=None):
        """``shifts``: per file, None or the (dx, dy) grid pixels its content is off by
        (``estimate_file_shifts``), corrected while reading."""
        self.files = [band_file(f) for f in files]
        self.grid = grid
        self.value_ranges = value_ranges
        self.shifts = list(shifts or [None] * len(self.files))
        self._stack = ExitStack()
        self._readers: list[FileReader] = []

    def __enter__(self) -> SceneReader:
        try:
            self.bands = inspect_files(self.files)
            self._ranges = check_ranges(self.bands, self.value_ranges)
            self._readers = [
                FileReader(self._stack, f, self.grid, s)
                for f, s in zip(self.files, self.shifts, strict=True)
            ]
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def read(self, window) -> tuple[np.ndarray, np.ndarray]:
        """uint16 (C, h, w) image (0 where not valid) and uint8 (h, w) valid of a window."""
        window = as_window(window)
        r0, c0, h, w = window.row_off, window.col_off, window.height, window.width
        if not all(float(v).is_integer() for v in (r0, c0, h, w)):
            raise ValueError(f"window {window} is not on whole pixels")
        if r0 < 0 or c0 < 0 or h < 1 or w < 1 or r0 + h > self.grid.height:
            raise ValueError(f"window {window} is outside the {self.grid.shape} grid")
        if c0 + w > self.grid.width:
            raise ValueError(f"window {window} is outside the {self.grid.shape} grid")
        image = np.zeros((len(self.bands), int(h), int(w)), np.uint16)
        valid = np.ones((int(h), int(w)), bool)
        k = 0
        for reader in self._readers:
            try:
                data, ok = reader.read(window)
            except RasterioError as exc:
                raise DstlError(f"{reader.path}: read failed ({exc})") from None
            valid &= ok
            for band in data:
                image[k] = _to_uint16(band, self._ranges[k])
                k += 1
        image[:, ~valid] = 0
        return image, valid.astype(np.uint8)


def read_window(files: Sequence, grid: SceneGrid, window, value_ranges=None):
    """One window of the grid from all chosen bands of all files: (uint16 (C, h, w) image,
    uint8 (h, w) valid). ``value_ranges``: {band position in C: (lo, hi)} (or one (lo, hi)
    for all) for bands that are not uint8/uint16. ``window``: a Window or
    (row_off, col_off, h, w)."""
    with SceneReader(files, grid, value_ranges) as reader:
        return reader.read(window)
