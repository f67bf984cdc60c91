"""A geo scene's raster files and the pixel grid they are read on.

A scene is one or more raster files (any GDAL format), each with the 1-based bands chosen
from it (``scenes.SceneFile``, or any object with ``.path`` and ``.bands``). ``open_raster`` opens one, refusing what is unusable (not a
regular file, no bands, no geotransform or CRS) with a DstlError naming the file;
``inspect_files`` lists the chosen bands. The scene grid (``scene_grid``) has the CRS of
the first file, the finest resolution of the files (or a configured one) and the
intersection of the files' bounds, snapped inward to whole pixels of a grid anchored at
the first file's corner.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import rasterio
import rasterio.transform
import rasterio.warp
import rasterio.windows
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.sources.geo.scenes import SceneFile

# A grid edge within this fraction of a pixel of a pixel boundary is on it (float noise of
# transformed bounds must not cost a row of pixels).
SNAP_TOL = 1e-6


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
    if not str(path).startswith("/vsi"):  # GDAL's virtual file systems: no stat
        check_regular(path)


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


def band_file(f) -> SceneFile:
    return f if isinstance(f, SceneFile) else SceneFile(Path(f.path), f.bands)


def chosen_bands(src, f) -> list[int]:
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
    for f in map(band_file, files):
        with open_raster(f.path) as src:
            for b in chosen_bands(src, f):
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
    files = [band_file(f) for f in files]
    if not files:
        raise DstlError("a scene needs at least one raster file")
    crs = None
    box = None
    finest = math.inf
    anchor = (0.0, 0.0)
    for f in files:
        with open_raster(f.path) as src:
            chosen_bands(src, f)
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
    col0 = math.ceil(win.col_off - SNAP_TOL)
    row0 = math.ceil(win.row_off - SNAP_TOL)
    col1 = math.floor(win.col_off + win.width + SNAP_TOL)
    row1 = math.floor(win.row_off + win.height + SNAP_TOL)
    if col1 <= col0 or row1 <= row0:
        names = ", ".join(str(f.path) for f in files)
        raise DstlError(f"{names}: the files' common area is less than one {finest} px pixel")
    window = Window(col0, row0, col1 - col0, row1 - row0)
    transform = rasterio.windows.transform(window, base)
    return SceneGrid(crs.to_wkt(), tuple(transform)[:6], row1 - row0, col1 - col0)
