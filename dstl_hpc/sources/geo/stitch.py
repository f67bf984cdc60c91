"""Chip probabilities back to one probability COG per scene.

Each chip's probabilities (uint8 (N, h, w), p * 255) are blended with their neighbours'
by a weighted mean: a chip's weight ramps linearly over the pixels it shares with a
neighbouring chip (``blend_weights``), so the weights of overlapping chips sum to 1 and a
smooth field comes back without a seam. The scene is processed in row bands: each band
gets the chips whose windows intersect it (each chip read once, kept until the band below
its end) and is blended tile by tile into a tiled temporary GTiff, which the GDAL COG
driver copies to the final path (``atomic_path``). Memory: the chips crossing one band
(uint8) and one tile (float32).

The COG (SPEC): uint8, one band per class (description = class name), value
round(p * 254), nodata 255 where no valid chip pixel covers it, band scale 1/254, the
scene grid's CRS and transform, 512 px tiles, overviews (AVERAGE), DEFLATE.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioError
from rasterio.windows import Window

from dstl_hpc.atomic import atomic_path
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.grid import SceneGrid, as_window, open_raster

NODATA = 255
SCALE = 254  # stored value = round(p * SCALE)
COG_BLOCK = 512
SIDES = ("top", "bottom", "left", "right")


# ------------------------------------------------------------------ blending weights
def neighbour_overlaps(chips: Sequence[Sequence[int]]) -> list[dict[str, int]]:
    """For each chip of ``chip_windows``: {side: pixels shared with the chip next to it on
    that side} for the sides that have a neighbouring chip (none at the scene's edges)."""
    by_rc = {(c[0], c[1]): c for c in chips}
    out = []
    for ri, ci, r0, c0, h, w in chips:
        sides = {}
        for side, (dr, dc) in zip(SIDES, ((-1, 0), (1, 0), (0, -1), (0, 1)), strict=True):
            nb = by_rc.get((ri + dr, ci + dc))
            if nb is None:
                continue
            _, _, nr0, nc0, nh, nw = nb
            shared = {
                "top": nr0 + nh - r0,
                "bottom": r0 + h - nr0,
                "left": nc0 + nw - c0,
                "right": c0 + w - nc0,
            }[side]
            if shared > 0:
                sides[side] = int(shared)
        out.append(sides)
    return out


GDAL_CACHE_MB = 256  # GDAL_CACHEMAX of the steps that write or read whole scenes


def _ramp(n: int, start: int, end: int) -> np.ndarray:
    """1 in the middle, (k+1)/(L+1) over the L = ``start`` first and ``end`` last pixels."""
    r = np.ones(n, np.float32)
    if start > 0:
        k = min(start, n)
        r[:k] = np.minimum(r[:k], np.arange(1, k + 1, dtype=np.float32) / (start + 1))
    if end > 0:
        k = min(end, n)
        r[n - k :] = np.minimum(r[n - k :], np.arange(k, 0, -1, dtype=np.float32) / (end + 1))
    return r


def _ramps(height: int, width: int, sides: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise ValueError(f"unknown chip sides {sorted(unknown)}: use {SIDES}")
    ry = _ramp(height, sides.get("top", 0), sides.get("bottom", 0))
    rx = _ramp(width, sides.get("left", 0), sides.get("right", 0))
    return ry, rx


def blend_weights(height: int, width: int, sides: Mapping[str, int]) -> np.ndarray:
    """float32 (height, width) weights of a chip: a linear ramp over the pixels shared with
    the neighbour on each side in ``sides`` ({side: overlap px}, see
    ``neighbour_overlaps``), 1 elsewhere and at the scene's edges, never 0. Two chips
    sharing L pixels get weights (L - i)/(L + 1) and (i + 1)/(L + 1): they sum to 1."""
    ry, rx = _ramps(height, width, sides)
    return np.outer(ry, rx)


# ------------------------------------------------------------------ stitching
def _num_threads() -> str:
    try:
        return str(max(1, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return str(os.cpu_count() or 1)


def _load(i: int, chip, n: int, read_chip, sides) -> tuple:
    prob, valid = read_chip(i)
    prob, valid = np.asarray(prob), np.asarray(valid)
    h, w = chip[4], chip[5]
    if prob.shape != (n, h, w) or valid.shape != (h, w):
        raise ValueError(
            f"chip {i} ({chip[0]}, {chip[1]}): got prob {prob.shape} and valid {valid.shape}, "
            f"expected ({n}, {h}, {w}) and ({h}, {w})"
        )
    ry, rx = _ramps(h, w, sides)
    return prob, valid, ry, rx


def _write_bands(dst, grid: SceneGrid, n: int, chips, read_chip, block: int) -> None:
    """Blend the chips block x block tile by tile, a row band of tiles at a time; each chip
    is read once and kept while it crosses the current band."""
    H, W = grid.height, grid.width
    sides = neighbour_overlaps(chips)
    order = sorted(range(len(chips)), key=lambda i: chips[i][2])
    cache: dict[int, tuple] = {}
    nxt = 0
    for r0 in range(0, H, block):
        r1 = min(r0 + block, H)
        for i in [i for i in cache if chips[i][2] + chips[i][4] <= r0]:
            del cache[i]  # ends above this band: done
        while nxt < len(order) and chips[order[nxt]][2] < r1:
            i = order[nxt]
            nxt += 1
            if chips[i][2] + chips[i][4] > r0:
                cache[i] = _load(i, chips[i], n, read_chip, sides[i])
        for c0 in range(0, W, block):
            c1 = min(c0 + block, W)
            acc = np.zeros((n, r1 - r0, c1 - c0), np.float32)
            wsum = np.zeros((r1 - r0, c1 - c0), np.float32)
            for i, (prob, valid, ry, rx) in cache.items():
                _, _, cr, cc, h, w = chips[i]
                a, b = max(r0, cr), min(r1, cr + h)
                left, right = max(c0, cc), min(c1, cc + w)
                if a >= b or left >= right:
                    continue
                rows, cols = slice(a - cr, b - cr), slice(left - cc, right - cc)
                wt = np.outer(ry[rows], rx[cols])
                wt *= valid[rows, cols] > 0
                acc[:, a - r0 : b - r0, left - c0 : right - c0] += prob[:, rows, cols] * wt
                wsum[a - r0 : b - r0, left - c0 : right - c0] += wt
            covered = wsum > 0
            np.divide(acc, wsum, out=acc, where=covered)  # mean of p * 255
            acc *= SCALE / 255.0
            np.rint(acc, out=acc)
            out = acc.astype(np.uint8)  # in [0, 254]: a mean of values in [0, 255]
            out[:, ~covered] = NODATA
            dst.write(out, window=Window(c0, r0, c1 - c0, r1 - r0))


def stitch_cog(
    out_path,
    grid: SceneGrid,
    class_names: Sequence[str],
    chips: Sequence[Sequence[int]],
    read_chip: Callable[[int], tuple[np.ndarray, np.ndarray]],
    block: int = COG_BLOCK,
) -> Path:
    """Write the probability COG of a scene from its chips.

    ``chips``: the (row_index, col_index, row_off, col_off, h, w) of ``chip_windows`` (any
    subset: pixels no chip covers are nodata); ``read_chip(i)`` loads chip ``i``: (uint8
    (N, h, w) probabilities * 255, uint8 (h, w) valid). ``block``: rows per band (a
    multiple of 16): the scene is blended in ``block`` x ``block`` tiles.
    """
    out_path = Path(out_path)
    n = len(class_names)
    if n < 1:
        raise ValueError("no class names")
    if block < 16 or block % 16:
        raise ValueError(f"block {block} must be a positive multiple of 16")
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=n,
        dtype="uint8",
        crs=grid.crs,
        transform=grid.affine,
        nodata=NODATA,
        tiled=True,
        blockxsize=COG_BLOCK,
        blockysize=COG_BLOCK,
        interleave="band",
        compress="DEFLATE",
        zlevel=1,
        num_threads=_num_threads(),
        bigtiff="IF_SAFER",
    )
    with atomic_path(out_path, suffix=".tif") as final_tmp:
        # a killed writer's temporary is removed by the next atomic_path (same name pattern)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{out_path.name}.", suffix=".stitch.tif", dir=out_path.parent
        )
        os.close(fd)
        try:
            # GDAL's block cache defaults to 5% of the node's RAM (12.8 GB on a 256 GB
            # node, above the job's memory): bounded here (benchmarks/geo_scale.py)
            with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_CACHEMAX=GDAL_CACHE_MB):
                with rasterio.open(tmp, "w", **profile) as dst:
                    for k, name in enumerate(class_names, 1):
                        dst.set_band_description(k, str(name))
                    dst.scales = [1.0 / SCALE] * n
                    dst.offsets = [0.0] * n
                    _write_bands(dst, grid, n, chips, read_chip, block)
                rasterio.shutil.copy(
                    tmp,
                    final_tmp,
                    driver="COG",
                    compress="DEFLATE",
                    predictor="YES",
                    blocksize=COG_BLOCK,
                    overviews="AUTO",
                    resampling="AVERAGE",
                    bigtiff="IF_SAFER",
                    num_threads=_num_threads(),
                )
        except RasterioError as exc:
            raise DstlError(f"{out_path}: cannot write the probability COG ({exc})") from None
        finally:
            for p in (tmp, tmp + ".aux.xml"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
    return out_path


# ------------------------------------------------------------------ reading it back
def read_cog_window(path, window=None) -> tuple[np.ndarray, np.ndarray]:
    """(float32 (N, h, w) probabilities in [0, 1] (0 where not valid), bool (h, w) valid)
    of a window (a Window or (row_off, col_off, h, w); None: all) of a probability COG."""
    with open_raster(path) as src:
        data = src.read(window=None if window is None else as_window(window))
        nodata = NODATA if src.nodata is None else src.nodata
        valid = (data != nodata).all(axis=0)
        scales = np.asarray(src.scales, np.float32)[:, None, None]
        offsets = np.asarray(src.offsets, np.float32)[:, None, None]
    prob = data.astype(np.float32) * scales + offsets
    prob[:, ~valid] = 0.0
    return np.clip(prob, 0.0, 1.0), valid


def cog_info(path) -> dict:
    """class_names, crs, transform, shape (N, height, width) and grid of a probability COG."""
    with open_raster(path) as src:
        grid = SceneGrid(src.crs.to_wkt(), tuple(src.transform)[:6], src.height, src.width)
        return {
            "class_names": [d or f"band{k}" for k, d in enumerate(src.descriptions, 1)],
            "crs": src.crs,
            "transform": src.transform,
            "shape": (src.count, src.height, src.width),
            "grid": grid,
        }
