"""The raster side of a geo scene: its files, its grid, its chips' windows and their pixels.

A scene is one or more raster files (any GDAL format), each with the 1-based bands chosen
from it (``BandFile``; any object with ``.path`` and ``.bands`` will do, e.g.
``scenes.SceneFile``). The scene grid (``scene_grid``) has the CRS of the first file, the
finest resolution of the files (or a configured one) and the intersection of the files'
bounds, snapped inward to whole pixels of a grid anchored at the first file's corner.

``read_window`` reads one window of the grid from every file through a
``rasterio.vrt.WarpedVRT`` (nearest when the file already sits on the grid's pixels,
bilinear otherwise), so memory is bounded by the window, never the scene. It returns the
image as uint16 (C, h, w) and ``valid`` (h, w): 1 where every chosen band of every file
has data (not nodata, inside the per-dataset mask / alpha, inside the file's footprint).
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.transform
import rasterio.warp
import rasterio.windows
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.chips import chip_windows  # noqa: F401 (re-exported)

# dtypes that reach the model unchanged; any other is mapped from a value range.
NATIVE_DTYPES = ("uint8", "uint16")
# A grid edge within this fraction of a pixel of a pixel boundary is on it (float noise of
# transformed bounds must not cost a row of pixels).
_SNAP_TOL = 1e-6


@dataclass(frozen=True)
class BandFile:
    """One raster file of a scene and the 1-based bands chosen from it (None: all)."""

    path: Path
    bands: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SceneGrid:
    """The pixel grid a scene is read on: CRS, affine transform (a, b, c, d, e, f), shape."""

    crs_wkt: str
    transform: tuple[float, ...]
    height: int
    width: int

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.crs_wkt)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units."""
        a = self.affine
        return abs(a.a), abs(a.e)

    @property
    def bounds(self) -> BoundingBox:
        return BoundingBox(*rasterio.transform.array_bounds(self.height, self.width, self.affine))

    def window_transform(self, window) -> Affine:
        return rasterio.windows.transform(as_window(window), self.affine)

    def to_dict(self) -> dict:
        return {
            "crs_wkt": self.crs_wkt,
            "transform": list(self.transform[:6]),
            "height": self.height,
            "width": self.width,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SceneGrid:
        return cls(
            str(d["crs_wkt"]),
            tuple(float(v) for v in d["transform"][:6]),
            int(d["height"]),
            int(d["width"]),
        )


def as_window(window) -> Window:
    """A rasterio Window from a Window or a (row_off, col_off, height, width) tuple."""
    if isinstance(window, Window):
        return window
    row_off, col_off, height, width = window
    return Window(col_off, row_off, width, height)


# ------------------------------------------------------------------ opening files
def _check_regular(path: Path) -> None:
    """Refuse what GDAL must not open: a missing path, a FIFO, a device, a folder (a FIFO
    would block the open forever)."""
    if str(path).startswith("/vsi"):
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DstlError(f"{path}: raster file not found") from None
    except OSError as exc:
        raise DstlError(f"{path}: cannot read ({os.strerror(exc.errno or 0)})") from None
    if stat.S_ISDIR(mode):
        raise DstlError(f"{path}: is a folder, not a raster file")
    if not stat.S_ISREG(mode):
        raise DstlError(f"{path}: not a regular file (a FIFO, socket or device): refused")


@contextmanager
def open_raster(path) -> Iterator[rasterio.DatasetReader]:
    """Open a georeferenced raster; a DstlError naming the file for anything unusable."""
    path = Path(path)
    _check_regular(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DstlError(f"{path}: not a raster GDAL can read ({first})") from None
    with src:
        if src.count == 0:
            raise DstlError(f"{path}: has no raster bands")
        if src.transform.is_identity:
            how = "only GCPs" if src.gcps[0] else "only RPCs" if src.rpcs else "none"
            raise DstlError(
                f"{path}: no geotransform ({how}): georeference it first (e.g. gdalwarp)"
            )
        if src.crs is None:
            raise DstlError(f"{path}: no CRS: set one first (e.g. gdal_edit.py -a_srs)")
        yield src


def _bandfile(f) -> BandFile:
    return f if isinstance(f, BandFile) else BandFile(Path(f.path), f.bands)


def _chosen(src, f) -> list[int]:
    if f.bands is None:
        return list(src.indexes)
    bands = [int(b) for b in f.bands]
    for b in bands:
        if not 1 <= b <= src.count:
            raise DstlError(f"{f.path}: band {b} out of range (the file has {src.count} bands)")
    if not bands:
        raise DstlError(f"{f.path}: no bands chosen")
    return bands


def inspect_files(files: Sequence) -> list[dict]:
    """One dict per chosen band, in the order the model sees them: position (0-based in
    the image), file, index (1-based in the file), dtype, nodata, description."""
    out = []
    for f in map(_bandfile, files):
        with open_raster(f.path) as src:
            for b in _chosen(src, f):
                out.append(
                    {
                        "position": len(out),
                        "file": str(f.path),
                        "index": b,
                        "dtype": src.dtypes[b - 1],
                        "nodata": src.nodatavals[b - 1],
                        "description": src.descriptions[b - 1] or "",
                    }
                )
    return out


# ------------------------------------------------------------------ the scene grid
def _footprint(src, crs: CRS) -> tuple[BoundingBox, float]:
    """The file's bounds and finest pixel size, in ``crs``."""
    if src.crs == crs:  # rasterio's bounds and res also hold for rotated transforms
        return src.bounds, float(min(src.res))
    bounds = BoundingBox(*rasterio.warp.transform_bounds(src.crs, crs, *src.bounds))
    tr, _, _ = rasterio.warp.calculate_default_transform(
        src.crs, crs, src.width, src.height, *src.bounds
    )
    return bounds, float(min(abs(tr.a), abs(tr.e)))


def scene_grid(files: Sequence, resolution: float | None = None) -> SceneGrid:
    """The grid of a scene: CRS of the first file, the finest resolution of the files (or
    ``resolution``, in that CRS's units), extent the intersection of the files' bounds
    snapped inward to whole pixels of a grid anchored at the first file's top-left corner."""
    files = [_bandfile(f) for f in files]
    if not files:
        raise DstlError("a scene needs at least one raster file")
    crs = None
    box = None
    finest = math.inf
    anchor = (0.0, 0.0)
    for f in files:
        with open_raster(f.path) as src:
            _chosen(src, f)
            if crs is None:
                crs = src.crs
            bounds, res = _footprint(src, crs)
        if box is None:
            anchor = (bounds.left, bounds.top)
            box = bounds
        else:
            box = BoundingBox(
                max(box.left, bounds.left),
                max(box.bottom, bounds.bottom),
                min(box.right, bounds.right),
                min(box.top, bounds.top),
            )
            if box.left >= box.right or box.bottom >= box.top:
                raise DstlError(
                    f"{f.path}: does not overlap {files[0].path}"
                    + (" and the scene's other files" if len(files) > 2 else "")
                )
        finest = min(finest, res)
    if resolution is not None:
        if not float(resolution) > 0:
            raise DstlError(f"config data.resolution: {resolution} must be > 0")
        finest = float(resolution)
    base = Affine.translation(*anchor) @ Affine.scale(finest, -finest)
    win = rasterio.windows.from_bounds(*box, transform=base)
    col0 = math.ceil(win.col_off - _SNAP_TOL)
    row0 = math.ceil(win.row_off - _SNAP_TOL)
    col1 = math.floor(win.col_off + win.width + _SNAP_TOL)
    row1 = math.floor(win.row_off + win.height + _SNAP_TOL)
    if col1 <= col0 or row1 <= row0:
        names = ", ".join(str(f.path) for f in files)
        raise DstlError(f"{names}: the files' common area is less than one {finest} px pixel")
    window = Window(col0, row0, col1 - col0, row1 - row0)
    transform = rasterio.windows.transform(window, base)
    return SceneGrid(crs.to_wkt(), tuple(transform)[:6], row1 - row0, col1 - col0)


# ------------------------------------------------------------------ chips
# ------------------------------------------------------------------ reading windows
def _value_range(value_ranges, position: int):
    if value_ranges is None:
        return None
    if isinstance(value_ranges, Mapping):
        return value_ranges.get(position)
    return value_ranges  # one (lo, hi) for every band


def _check_ranges(bands: list[dict], value_ranges) -> list[tuple[float, float] | None]:
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
    return Resampling.nearest if max(phase) < _SNAP_TOL else Resampling.bilinear


class _FileReader:
    """One file warped onto the grid, with how its validity is read."""

    def __init__(self, stack: ExitStack, f: BandFile, grid: SceneGrid, shift=None):
        self.src = stack.enter_context(open_raster(f.path))
        self.path = f.path
        self.bands = _chosen(self.src, f)
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
        self.files = [_bandfile(f) for f in files]
        self.grid = grid
        self.value_ranges = value_ranges
        self.shifts = list(shifts or [None] * len(self.files))
        self._stack = ExitStack()
        self._readers: list[_FileReader] = []

    def __enter__(self) -> SceneReader:
        try:
            self.bands = inspect_files(self.files)
            self._ranges = _check_ranges(self.bands, self.value_ranges)
            self._readers = [
                _FileReader(self._stack, f, self.grid, s)
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


# ------------------------------------------------------------------ band agreement
def band_signature(files: Sequence) -> list[dict]:
    """Per file: count of chosen bands, their dtypes, the file's resolution (in its CRS's
    units). What a model records and what the scenes it reads must agree on."""
    out = []
    for f in map(_bandfile, files):
        with open_raster(f.path) as src:
            bands = _chosen(src, f)
            out.append(
                {
                    "count": len(bands),
                    "dtypes": [src.dtypes[b - 1] for b in bands],
                    "resolution": [float(r) for r in src.res],
                }
            )
    return out


def check_same_bands(scenes: Mapping[str, Sequence]) -> list[dict]:
    """Every scene's files give the same band counts and dtypes as the first scene's; a
    one-line DstlError names the scene and file that differ. Returns the first scene's
    signature."""
    first_id = first = None
    for scene_id, files in scenes.items():
        files = [_bandfile(f) for f in files]
        sig = band_signature(files)
        if first is None:
            first_id, first = scene_id, sig
            continue
        if len(sig) != len(first):
            raise DstlError(
                f"scene {scene_id}: {len(sig)} raster files, scene {first_id} has {len(first)}"
            )
        for f, a, b in zip(files, sig, first, strict=True):
            if a["count"] != b["count"] or a["dtypes"] != b["dtypes"]:
                raise DstlError(
                    f"scene {scene_id}: {f.path}: {a['count']} bands {'/'.join(a['dtypes'])}, "
                    f"scene {first_id} has {b['count']} bands {'/'.join(b['dtypes'])} there"
                )
    return first or []


# ------------------------------------------------------------------ misregistration
ALIGN_SIDE = 1024  # px of the grid's centre where file shifts are estimated


def estimate_file_shifts(files: Sequence, grid: SceneGrid) -> list[list[float] | None]:
    """Per file after the first: [dx, dy, cc], the displacement (grid pixels) of its
    content relative to the first file's, by phase correlation and ECC on the mean of
    each file's bands over the grid's centre (``dstl_hpc.prepare.align.estimate``);
    None for the first file and where the estimate fails (logged)."""
    import logging

    from dstl_hpc.prepare.align.estimate import estimate_shift
    from dstl_hpc.prepare.align.options import AlignmentFailed

    h, w = min(ALIGN_SIDE, grid.height), min(ALIGN_SIDE, grid.width)
    window = Window((grid.width - w) // 2, (grid.height - h) // 2, w, h)
    out: list[list[float] | None] = [None]
    with ExitStack() as stack:
        readers = [_FileReader(stack, _bandfile(f), grid) for f in files]
        greys = []
        for r in readers:
            data, valid = r.read(window)
            grey = data.astype(np.float32).mean(axis=0)
            grey[~valid] = float(grey[valid].mean()) if valid.any() else 0.0
            greys.append(grey)
        for r, grey in zip(readers[1:], greys[1:], strict=True):
            try:
                dx, dy, cc = estimate_shift(greys[0], grey)
            except AlignmentFailed as exc:
                logging.getLogger(__name__).warning("%s: not aligned (%s)", r.path, exc)
                out.append(None)
                continue
            out.append([round(float(dx), 3), round(float(dy), 3), round(float(cc), 4)])
    return out
