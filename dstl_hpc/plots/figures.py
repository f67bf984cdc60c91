"""The report's figures: training curves, threshold sweeps, overlays (matplotlib, Agg).

* ``training_curves``: per group, loss and validation Jaccard per epoch
  (``models/{variant}/{group}/metrics.csv``), 1000 x 400 px.
* ``sweep_curves``: per class, polygon Jaccard against the probability threshold
  (``validation/thresholds/class_{k}.json``), the chosen threshold marked, 640 x 400 px.
* ``overlays``: one validation image's RGB with truth and predicted polygons, one
  PNG per class group, ``OVERLAY_WIDTH_PX`` wide.

Each takes the run's classes (``classes``: ``ClassInfo`` list, from ``classes.json``;
default the DSTL classes) for the class names.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.plots.common import (
    DPI,
    PRED_COLOUR,
    TRUTH_COLOUR,
    class_label,
    image_axes,
    names_of,
    no_data,
    num,
    panel_grid,
    pyplot,
    read_planes,
    save_png,
    stretch,
    stride_for,
)

OVERLAY_WIDTH_PX = 800


# ------------------------------------------------------------------ training


def read_metrics(path) -> dict[str, np.ndarray]:
    """Column -> float array (NaN where empty) of a metrics CSV (contracts.md)."""
    path = Path(path)
    check_regular(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        for need in ("epoch", "train_loss"):
            if need not in cols:
                raise DstlError(f"{path}: no column {need!r} (columns: {', '.join(cols)})")
        rows = [{k.strip(): v for k, v in r.items() if k is not None} for r in reader]
    return {c: np.array([num(r.get(c)) for r in rows], dtype=float) for c in cols}


def _read_groups(metrics_paths) -> dict[str, dict[str, dict]]:
    """group -> variant -> metrics, from paths ``.../{variant}/{group}/metrics.csv``."""
    by_group: dict[str, dict[str, dict]] = {}
    for p in metrics_paths:
        group, variant = Path(p).parent.name, Path(p).parent.parent.name
        if variant in by_group.setdefault(group, {}):
            raise DstlError(f"{p}: group {group}, variant {variant} given twice")
        by_group[group][variant] = read_metrics(p)
    if not by_group:
        raise DstlError("plots training: no metrics CSV given")
    return by_group


def _validation_first(variants: dict) -> list[tuple[str, dict]]:
    return sorted(variants.items(), key=lambda kv: kv[0] != "validation")


def _jaccard_source(variants: dict) -> tuple[str | None, list[int]]:
    """(the first variant with a validation Jaccard, or None; its ClassTypes)."""
    classes: list[int] = []
    for variant, m in _validation_first(variants):
        ks = sorted(int(c.split("_", 1)[1]) for c in m if c.startswith("jaccard_"))
        if any(np.isfinite(m[f"jaccard_{k}"]).any() for k in ks):
            return variant, ks
        classes = classes or ks
    return None, classes


def _lr_changes(m: dict) -> list[float]:
    """The epochs at which the learning rate differs from the epoch before."""
    lr = m.get("lr", np.array([]))
    return [
        m["epoch"][i]
        for i in range(1, len(lr))
        if np.isfinite(lr[i]) and np.isfinite(lr[i - 1]) and lr[i] != lr[i - 1]
    ]


def _epoch_axis(ax, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _loss_axes(ax, variants: dict) -> None:
    """Train (and validation) loss per epoch of every variant; learning-rate changes dotted."""
    styles = {"validation": "-", "all": "--"}
    lr_marked = False
    for variant, m in _validation_first(variants):
        ep, ls = m["epoch"], styles.get(variant, ":")
        ax.plot(ep, m["train_loss"], ls, marker="o", ms=3, color="C0", label=f"{variant}: train")
        if "valid_loss" in m and np.isfinite(m["valid_loss"]).any():
            label = f"{variant}: validation"
            ax.plot(ep, m["valid_loss"], ls, marker="o", ms=3, color="C3", label=label)
        for e in _lr_changes(m):
            label = None if lr_marked else "learning-rate change"
            ax.axvline(e - 0.5, color="0.6", lw=0.8, ls=":", label=label)
            lr_marked = True
    _epoch_axis(ax, "loss")
    ax.set_title("Loss")
    ax.legend(fontsize=8)


def _jaccard_axes(ax, m: dict | None, variant: str | None, classes: list[int], names) -> None:
    """Validation pixel Jaccard per class and their mean, of the metrics ``m``."""
    if m is None:
        no_data(ax, "no validation images\n(variant 'all' trains on every image)")
        ax.set_title("Validation Jaccard")
    else:
        for k in classes:
            colour = f"C{(k - 1) % 10}"
            ax.plot(
                m["epoch"],
                m[f"jaccard_{k}"],
                marker="o",
                ms=3,
                color=colour,
                label=class_label(k, names),
            )
        if "mean_jaccard" in m:
            ax.plot(m["epoch"], m["mean_jaccard"], "k--", lw=2, marker="o", ms=3, label="mean")
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"Validation Jaccard ({variant} variant)")
    ax.set_ylim(0, 1)
    _epoch_axis(ax, "pixel Jaccard (p > 0.5)")


def training_curves(metrics_paths, out_dir, classes=None) -> list[Path]:
    """One PNG per group, ``out_dir/training_{group}.png`` (1000 x 400 px).

    Groups and variants are read from the paths (``{variant}/{group}/metrics.csv``).
    Left: train (and validation) loss per epoch for every variant; right: the
    validation pixel Jaccard per class (p > 0.5) and their mean.
    """
    names = names_of(classes)
    written = []
    for group, variants in sorted(_read_groups(metrics_paths).items()):
        fig, (ax_l, ax_j) = pyplot().subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        _loss_axes(ax_l, variants)
        variant, group_classes = _jaccard_source(variants)
        _jaccard_axes(ax_j, variants.get(variant), variant, group_classes, names)
        labels = ", ".join(class_label(k, names) for k in group_classes)
        fig.suptitle(f"Training curves - group {group}" + (f" ({labels})" if labels else ""))
        written.append(save_png(fig, Path(out_dir) / f"training_{group}.png"))
    return written


# ------------------------------------------------------------------- sweeps


def _sweep_title(d: dict, names) -> str:
    extra = []
    if d.get("epsilon") is not None:
        extra.append(f"epsilon {d['epsilon']:g} px")
    if d.get("min_area") is not None:
        extra.append(f"min area {d['min_area']:g} px\u00b2")
    title = f"Threshold sweep - class {class_label(int(d['class']), names)}"
    return title + (f"\n({', '.join(extra)})" if extra else "")


def _sweep_figure(d: dict, names):
    """The figure of one sweep: Jaccard per threshold, undefined ones crossed, the choice."""
    k = int(d["class"])
    t = np.array([num(x) for x in d.get("thresholds", [])])
    s = np.array([num(x) for x in d.get("scores", [])])
    chosen = num(d["threshold"])
    fig, ax = pyplot().subplots(figsize=(6.4, 4), constrained_layout=True)
    if len(t) and np.isfinite(s).any():
        ax.plot(t, s, marker="o", ms=4, color=f"C{(k - 1) % 10}", label="polygon Jaccard")
    else:
        no_data(ax, "no truth area and no predicted area\nat any threshold")
    if len(t) and not np.isfinite(s).all() and np.isfinite(s).any():
        undefined = t[~np.isfinite(s)]
        zeros = np.zeros_like(undefined)
        ax.plot(undefined, zeros, "x", color="0.5", label="undefined (empty union)")
    if np.isfinite(chosen):
        at = s[np.argmin(np.abs(t - chosen))] if len(t) else math.nan
        txt = f"chosen: {chosen:g}" + (f" (J = {at:.3f})" if np.isfinite(at) else "")
        ax.axvline(chosen, color="k", ls="--", lw=1, label=txt)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("probability threshold")
    ax.set_ylabel("polygon Jaccard (validation)")
    ax.set_title(_sweep_title(d, names), fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def sweep_curves(sweep_paths, out_dir, classes=None) -> list[Path]:
    """One PNG per class, ``out_dir/threshold_class_{k}.png`` (640 x 400 px)."""
    from dstl_hpc.scoring.files import read_sweep

    if not sweep_paths:
        raise DstlError("plots sweeps: no sweep JSON given")
    names = names_of(classes)
    written = []
    for p in sweep_paths:
        d = read_sweep(p)
        path = Path(out_dir) / f"threshold_class_{int(d['class'])}.png"
        written.append(save_png(_sweep_figure(d, names), path))
    return written


# ----------------------------------------------------------------- overlays


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
    """Class ``k``'s panel: truth filled, prediction outlined, their Jaccard and cover."""
    from dstl_hpc.polygons import polygonal
    from dstl_hpc.scoring.metrics import jaccard_areas, safe_parse
    from dstl_hpc.sources.dstl import grid_to_pixels

    where = f"{im.truth_csv}, image {im.image_id}, class {k}"
    t = safe_parse(im.truth[k], where) if k in im.truth else polygonal(None)
    p = safe_parse(*im.preds[k]) if k in im.preds else polygonal(None)
    inter, union = jaccard_areas(t, p)
    image_axes(ax, rgb, im.w, im.h)
    extent = (im.w, im.h, im.xmax, im.ymin)
    _draw_geom(ax, grid_to_pixels(t, *extent), TRUTH_COLOUR, 0.45, 0.8, 3)
    _draw_geom(ax, grid_to_pixels(p, *extent), PRED_COLOUR, 0.0, 1.4, 5)
    image_area = abs(im.xmax * im.ymin)
    score = f"J = {inter / union:.3f}" if union > 0 else "no truth, no prediction"
    cover = f"truth {100 * t.area / image_area:.1f}%, pred {100 * p.area / image_area:.1f}%"
    note = "" if k in im.preds else ", no prediction row"
    ax.set_title(f"{class_label(k, names)}: {score}\n{cover}{note}", fontsize=9)


def overlays(
    stack,
    truth_csv,
    grid_sizes,
    polygon_csvs,
    groups: dict[str, list[int]],
    out_dir,
    image_id: str | None = None,
    width_px: int = OVERLAY_WIDTH_PX,
    classes=None,
) -> list[Path]:
    """``out_dir/{image}_{group}.png`` per group: RGB with truth and predicted polygons.

    Truth polygons are filled cyan, predicted polygons outlined magenta (on top).

    One panel per class of the group (two columns), ``width_px`` wide. Truth comes
    from ``truth_csv`` (grid coordinates, scaled with ``grid_sizes``), predictions
    from the per-class polygon CSVs (a later file overrides an earlier one).
    """
    from matplotlib.patches import Patch

    im = _overlay_inputs(stack, truth_csv, grid_sizes, polygon_csvs, image_id)
    names = names_of(classes)
    h, w = im.h, im.w
    rgb = stretch(read_planes(stack, "image", [0, 1, 2], stride_for(h, w, width_px)))
    written = []
    for group, group_classes in groups.items():
        ks = [int(k) for k in group_classes]
        if not ks:
            raise DstlError(f"overlay group {group}: no classes")
        ncols = min(2, len(ks))
        nrows = math.ceil(len(ks) / ncols)
        fig_w = width_px / DPI
        panel_h = fig_w / ncols * h / w
        size = (fig_w, nrows * panel_h + 0.45 + 0.3 * nrows)
        fig, axes = panel_grid(len(ks), ncols, size)
        for ax, k in zip(axes, ks, strict=True):
            _overlay_panel(ax, k, rgb, im, names)
        handles = [
            Patch(facecolor=TRUTH_COLOUR, edgecolor=TRUTH_COLOUR, alpha=0.7, label="truth"),
            Patch(facecolor="none", edgecolor=PRED_COLOUR, lw=1.4, label="prediction"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
        fig.suptitle(f"{im.image_id} - group {group}", fontsize=11)
        written.append(save_png(fig, Path(out_dir) / f"{im.image_id}_{group}.png"))
    return written
