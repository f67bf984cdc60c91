"""What the figure, table and ``show`` modules share: colours, class names, matplotlib,
images.

* Matplotlib is imported on first use (``pyplot``), with the Agg backend, so that
  importing ``dstl_hpc.plots`` stays cheap for the CLI.
* ``save_png`` writes every figure at ``DPI`` with no tight bounding box, so its
  pixel size is ``figsize`` x ``DPI``, known in advance.
* Images are drawn with ``extent=(0, W, H, 0)`` (``image_axes``): pixel (r, c)
  covers ``[c, c+1) x [r, r+1)`` as everywhere (``dstl_hpc.prepare.raster``), so polygons in
  pixel coordinates lie on them exactly.
* Class names come from the run's classes (``classes.json``, ``names_of``); the JSON
  inputs are read by their owner, ``dstl_hpc.scoring.files``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import atomic_path
from dstl_hpc.sources import default_classes

log = logging.getLogger("dstl_hpc.plots")

DPI = 100
TRUTH_COLOUR = "#00d8ff"  # cyan
PRED_COLOUR = "#ff2fa8"  # magenta
BOTH_COLOUR = "#ffe14d"  # yellow


def names_of(classes=None) -> dict[int, str]:
    """Class id -> name of ``classes`` (``ClassInfo``; default: ``default_classes()``)."""
    return {c.id: c.name for c in (classes or default_classes())}


def class_label(k: int, names: dict[int, str]) -> str:
    """A class's id and name, such as "3 road" (``names``: ``names_of``)."""
    return f"{k} {names[int(k)].replace('_', ' ')}"


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend (imported here, on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path) -> Path:
    """Write ``fig`` to ``path`` (atomically, at ``DPI``) and close it."""
    plt = pyplot()
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", facecolor="white")
    finally:
        plt.close(fig)
    log.info("wrote %s", path)
    return path


def no_data(ax, text: str) -> None:
    """A grey note in the middle of an axes that has nothing to plot."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def cover_share(geom, bounds: tuple[float, float, float, float]) -> float:
    """The share in [0, 1] of the rectangle ``bounds`` (minx, miny, maxx, maxy) that
    ``geom`` covers: its polygons made valid, clipped to the rectangle and unioned, so
    overlapping polygons count once and parts outside the rectangle not at all."""
    import shapely
    from shapely.geometry import box

    rect = box(*bounds)
    if geom is None or geom.is_empty or rect.area <= 0:
        return 0.0
    parts = shapely.make_valid(shapely.get_parts(geom))  # each polygon on its own
    inside = shapely.union_all(shapely.intersection(parts, rect))
    return min(1.0, float(inside.area) / rect.area)


def num(v) -> float:
    """float, NaN for None / '' / unparsable."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# ------------------------------------------------------------------- images


def stride_for(h: int, w: int, max_px: int) -> int:
    """The step that reads an H x W image at about ``max_px`` along its longer side."""
    return max(1, int(max(h, w) // max(1, max_px)))


def read_planes(path, dataset: str, planes, stride: int) -> np.ndarray:
    """(len(planes), H / stride, W / stride) of an HDF5 dataset (C, H, W)."""
    from dstl_hpc.prepare.stacks import open_h5

    with open_h5(path, dataset) as h5:
        ds = h5[dataset]
        return np.stack([ds[int(p), ::stride, ::stride] for p in planes])


def dataset_shape(path, dataset: str) -> tuple[int, ...]:
    from dstl_hpc.prepare.stacks import open_h5

    with open_h5(path, dataset) as h5:
        return tuple(h5[dataset].shape)


def stretch(img: np.ndarray, lo: float = 2.0, hi: float = 98.0) -> np.ndarray:
    """(C, H, W) -> (H, W, C) float in [0, 1], each channel percentile-stretched."""
    out = np.empty(img.shape[1:] + (img.shape[0],), np.float32)
    for c in range(img.shape[0]):
        ch = img[c].astype(np.float32)
        a, b = np.percentile(ch, [lo, hi]) if ch.size else (0.0, 1.0)
        if b <= a:
            b = a + 1.0
        out[..., c] = np.clip((ch - a) / (b - a), 0.0, 1.0)
    return out


def rgb_of(colour: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(colour), np.float32)


def panel_grid(n: int, ncols: int, figsize: tuple[float, float]):
    """(figure, the first ``n`` axes) of a constrained grid of ``ncols`` columns;
    the axes left over in the last row are hidden."""
    fig = pyplot().figure(figsize=figsize)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, axes.flat[:n]


def image_axes(ax, img, w: int, h: int) -> None:
    """Draw ``img`` over pixel coordinates [0, W] x [0, H], without ticks."""
    ax.imshow(img, extent=(0, w, h, 0), interpolation="antialiased")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
