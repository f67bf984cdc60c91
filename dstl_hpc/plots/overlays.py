"""Overlays: one image's RGB with its truth and predicted polygons, one PNG per class
group, ``OVERLAY_WIDTH_PX`` wide (matplotlib, Agg).

Each panel gives the polygon Jaccard of this one image and the share of the image
that truth and prediction cover (``cover_share``: in [0, 100] %, overlapping polygons
counted once, measured in pixels on the image). Takes the run's classes (``classes``:
``ClassInfo`` list, from ``classes.json``; default the DSTL classes) for the names.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.plots.common import (
    DPI,
    PRED_COLOUR,
    TRUTH_COLOUR,
    class_label,
    cover_share,
    image_axes,
    names_of,
    panel_grid,
    read_planes,
    save_png,
    stretch,
    stride_for,
)

OVERLAY_WIDTH_PX = 800


def _geom_path(geom):
    """A matplotlib Path of a (Multi)Polygon with holes (exteriors CCW, holes CW)."""
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        poly = orient(poly, 1.0)
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 3:
                continue
            verts.append(xy)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _draw_geom(ax, geom, colour: str, fill_alpha: float, lw: float, z: int) -> None:
    from matplotlib.patches import PathPatch

    path = _geom_path(geom)
    if path is None:
        return
    if fill_alpha > 0:
        ax.add_patch(PathPatch(path, facecolor=colour, alpha=fill_alpha, lw=0, zorder=z))
    ax.add_patch(PathPatch(path, facecolor="none", edgecolor=colour, lw=lw, zorder=z + 1))


@dataclass
class _Image:
    """One image's overlay inputs."""

    image_id: str
    h: int  # size in pixels
    w: int
    xmax: float  # grid extent
    ymin: float
    truth_csv: str
    truth: dict[int, str]  # ClassType -> WKT
    preds: dict[int, tuple[str, str]]  # ClassType -> (WKT, where it was read)


def _overlay_inputs(stack, truth_csv, grid_sizes, polygon_csvs, image_id) -> _Image:
    from dstl_hpc.polygons import read_rows
    from dstl_hpc.prepare.stacks import stack_info
    from dstl_hpc.sources.dstl import read_grid_sizes, read_wkt_csv

    info = stack_info(stack)
    image_id = image_id or info["image_id"]
    if not image_id:
        raise DstlError(f"{stack}: no image_id attribute; pass --image")
    grids = read_grid_sizes(grid_sizes)
    if image_id not in grids:
        raise DstlError(f"{grid_sizes}: image {image_id} is missing")
    truth_rows = read_wkt_csv(truth_csv)
    if image_id not in truth_rows:
        raise DstlError(f"{truth_csv}: no polygons for image {image_id}")
    preds: dict[int, tuple[str, str]] = {}
    for p in polygon_csvs:
        for i, k, wkt in read_rows(p):
            if i == image_id:
                preds[k] = (wkt, f"{p}, image {image_id}, class {k}")
    _, h, w = info["shape"]
    xmax, ymin = grids[image_id]
    return _Image(image_id, h, w, xmax, ymin, str(truth_csv), truth_rows[image_id], preds)


def _overlay_panel(ax, k: int, rgb, im: _Image, names) -> None:
    """Class ``k``'s panel: truth filled, prediction outlined, the image's polygon
    Jaccard and the share of the image that each covers."""
    from dstl_hpc.polygons import polygonal
    from dstl_hpc.scoring.metrics import jaccard_areas, safe_parse
    from dstl_hpc.sources.dstl import grid_to_pixels

    where = f"{im.truth_csv}, image {im.image_id}, class {k}"
    t = safe_parse(im.truth[k], where) if k in im.truth else polygonal(None)
    p = safe_parse(*im.preds[k]) if k in im.preds else polygonal(None)
    inter, union = jaccard_areas(t, p)
    image_axes(ax, rgb, im.w, im.h)
    extent = (im.w, im.h, im.xmax, im.ymin)
    t_px, p_px = grid_to_pixels(t, *extent), grid_to_pixels(p, *extent)
    _draw_geom(ax, t_px, TRUTH_COLOUR, 0.45, 0.8, 3)
    _draw_geom(ax, p_px, PRED_COLOUR, 0.0, 1.4, 5)
    score = f"polygon Jaccard {inter / union:.3f}" if union > 0 else "no truth, no prediction"
    frame = (0.0, 0.0, float(im.w), float(im.h))  # the image, in pixels
    cover = (
        f"truth covers {100 * cover_share(t_px, frame):.1f}% of the image, "
        f"prediction {100 * cover_share(p_px, frame):.1f}%"
    )
    note = "" if k in im.preds else ", no prediction row"
    ax.set_title(f"{class_label(k, names)}: {score}\n{cover}{note}", fontsize=9)


def overlay_figures(
    stack,
    truth_csv,
    grid_sizes,
    polygon_csvs,
    groups: dict[str, list[int]],
    image_id: str | None = None,
    width_px: int = OVERLAY_WIDTH_PX,
    classes=None,
    split: str = "validation",
    note: str | None = None,
) -> tuple[str, dict]:
    """(the image id, group -> its overlay figure, unsaved): RGB with truth and
    predicted polygons.

    Truth polygons are filled cyan, predicted polygons outlined magenta (on top). Each
    panel gives the polygon Jaccard of this one image and the share of the image (in
    [0, 100] %: overlapping polygons count once) that truth and prediction cover.
    ``split`` names the image's set in the title, ``note`` (a line under it) says
    which polygons these are.

    One panel per class of the group (two columns), ``width_px`` wide. Truth comes
    from ``truth_csv`` (grid coordinates, scaled with ``grid_sizes``), predictions
    from the per-class polygon CSVs (a later file overrides an earlier one).
    """
    from matplotlib.patches import Patch

    for group, group_classes in groups.items():
        if not group_classes:
            raise DstlError(f"overlay group {group}: no classes")
    im = _overlay_inputs(stack, truth_csv, grid_sizes, polygon_csvs, image_id)
    names = names_of(classes)
    h, w = im.h, im.w
    rgb = stretch(read_planes(stack, "image", [0, 1, 2], stride_for(h, w, width_px)))
    note_lines = textwrap.wrap(note or "", max(20, width_px // 7))  # about 7 px a letter
    figures = {}
    for group, group_classes in groups.items():
        ks = [int(k) for k in group_classes]
        ncols = min(2, len(ks))
        nrows = math.ceil(len(ks) / ncols)
        fig_w = width_px / DPI
        panel_h = fig_w / ncols * h / w
        size = (fig_w, nrows * panel_h + 0.45 + 0.3 * nrows + 0.2 * len(note_lines))
        fig, axes = panel_grid(len(ks), ncols, size)
        for ax, k in zip(axes, ks, strict=True):
            _overlay_panel(ax, k, rgb, im, names)
        handles = [
            Patch(facecolor=TRUTH_COLOUR, edgecolor=TRUTH_COLOUR, alpha=0.7, label="truth"),
            Patch(facecolor="none", edgecolor=PRED_COLOUR, lw=1.4, label="prediction"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
        title = f"{split} image {im.image_id} - group {group}: polygon Jaccard of this image"
        fig.suptitle("\n".join([title, *note_lines]), fontsize=10)
        figures[group] = fig
    return im.image_id, figures


def overlays(stack, truth_csv, grid_sizes, polygon_csvs, groups, out_dir, **options) -> list[Path]:
    """``out_dir/{image}_{group}.png`` per group (``overlay_figures``, whose keyword
    ``options`` it takes: image_id, width_px, classes, split, note)."""
    image, figures = overlay_figures(stack, truth_csv, grid_sizes, polygon_csvs, groups, **options)
    return [save_png(fig, Path(out_dir) / f"{image}_{g}.png") for g, fig in figures.items()]
