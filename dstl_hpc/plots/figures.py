"""The report's figures: training curves, threshold sweeps, overlays (matplotlib, Agg).

* ``training_curves``: per group, loss and validation pixel Jaccard per epoch
  (``models/{variant}/{group}/metrics.csv``), 1000 x 400 px.
* ``sweep_curves``: per class, polygon Jaccard on the validation images against the
  probability threshold (``validation/thresholds/class_{k}.json``), the chosen
  threshold marked, 640 x 400 px.
(The overlays of truth and predicted polygons are in ``dstl_hpc.plots.overlays``.)

Every title, axis and legend names the score (polygon or pixel Jaccard) and the images
it was measured on.

Each takes the run's classes (``classes``: ``ClassInfo`` list, from ``classes.json``;
default the DSTL classes) for the class names.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.plots.common import (
    class_label,
    names_of,
    no_data,
    num,
    pyplot,
    save_png,
)
from dstl_hpc.scoring.labels import image_set

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
        label = f"{variant} variant: training loss"
        ax.plot(ep, m["train_loss"], ls, marker="o", ms=3, color="C0", label=label)
        if "valid_loss" in m and np.isfinite(m["valid_loss"]).any():
            label = f"{variant} variant: loss on the validation images"
            ax.plot(ep, m["valid_loss"], ls, marker="o", ms=3, color="C3", label=label)
        for e in _lr_changes(m):
            label = None if lr_marked else "learning-rate change"
            ax.axvline(e - 0.5, color="0.6", lw=0.8, ls=":", label=label)
            lr_marked = True
    _epoch_axis(ax, "loss")
    ax.set_title("Loss per epoch")
    ax.legend(fontsize=8)


def _jaccard_axes(
    ax, m: dict | None, variant: str | None, classes: list[int], names, valid_ids
) -> None:
    """Validation pixel Jaccard per class and their mean, of the metrics ``m``
    (``valid_ids``: the validation images, for the title; may be empty)."""
    if m is None:
        no_data(ax, "no validation images\n(variant 'all' trains on every image)")
        ax.set_title("Pixel Jaccard (p > 0.5) on the validation images")
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
            label = "mean over the classes"
            ax.plot(m["epoch"], m["mean_jaccard"], "k--", lw=2, marker="o", ms=3, label=label)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(
            f"Pixel Jaccard (p > 0.5) of the {variant} variant\non "
            + image_set(valid_ids, "validation"),
            fontsize=10,
        )
    ax.set_ylim(0, 1)
    _epoch_axis(ax, "pixel Jaccard (p > 0.5), validation images")


def training_figures(metrics_paths, classes=None, valid_ids=()) -> dict:
    """group -> the figure of its training curves (1000 x 400 px), unsaved.

    Groups and variants are read from the paths (``{variant}/{group}/metrics.csv``).
    Left: train (and validation) loss per epoch for every variant; right: the
    validation pixel Jaccard per class (p > 0.5) and their mean. ``valid_ids``: the
    validation images the metrics were measured on (named in the title).
    """
    names = names_of(classes)
    figures = {}
    for group, variants in sorted(_read_groups(metrics_paths).items()):
        fig, (ax_l, ax_j) = pyplot().subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        _loss_axes(ax_l, variants)
        variant, group_classes = _jaccard_source(variants)
        _jaccard_axes(ax_j, variants.get(variant), variant, group_classes, names, valid_ids)
        labels = ", ".join(class_label(k, names) for k in group_classes)
        fig.suptitle(f"Training curves - group {group}" + (f" ({labels})" if labels else ""))
        figures[group] = fig
    return figures


def training_curves(metrics_paths, out_dir, classes=None, valid_ids=()) -> list[Path]:
    """One PNG per group, ``out_dir/training_{group}.png`` (``training_figures``)."""
    figures = training_figures(metrics_paths, classes, valid_ids)
    return [save_png(fig, Path(out_dir) / f"training_{g}.png") for g, fig in figures.items()]


# ------------------------------------------------------------------- sweeps


def _sweep_title(d: dict, names) -> str:
    extra = []
    if d.get("epsilon") is not None:
        extra.append(f"epsilon {d['epsilon']:g} px")
    if d.get("min_area") is not None:
        extra.append(f"min area {d['min_area']:g} px\u00b2")
    title = f"Threshold sweep - class {class_label(int(d['class']), names)}"
    title += f"\npolygon Jaccard on {image_set(d.get('images'), 'validation')}"
    return title + (f"\n({', '.join(extra)})" if extra else "")


def sweep_figure(d: dict, names):
    """The figure of one sweep (a ``read_sweep`` dict; ``names``: ``names_of``), unsaved:
    polygon Jaccard per threshold, undefined ones crossed, the choice."""
    k = int(d["class"])
    t = np.array([num(x) for x in d.get("thresholds", [])])
    s = np.array([num(x) for x in d.get("scores", [])])
    chosen = num(d["threshold"])
    fig, ax = pyplot().subplots(figsize=(6.4, 4), constrained_layout=True)
    if len(t) and np.isfinite(s).any():
        label = "polygon Jaccard (summed over the validation images)"
        ax.plot(t, s, marker="o", ms=4, color=f"C{(k - 1) % 10}", label=label)
    else:
        no_data(ax, "no truth area and no predicted area\nat any threshold")
    if len(t) and not np.isfinite(s).all() and np.isfinite(s).any():
        undefined = t[~np.isfinite(s)]
        zeros = np.zeros_like(undefined)
        ax.plot(undefined, zeros, "x", color="0.5", label="undefined (empty union)")
    if np.isfinite(chosen):
        at = s[np.argmin(np.abs(t - chosen))] if len(t) else math.nan
        txt = f"chosen threshold {chosen:g}" + (
            f" (polygon Jaccard {at:.3f}, tuned: chosen on these images)" if np.isfinite(at) else ""
        )
        ax.axvline(chosen, color="k", ls="--", lw=1, label=txt)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("probability threshold")
    ax.set_ylabel("polygon Jaccard, validation images")
    ax.set_title(_sweep_title(d, names), fontsize=9)
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
        written.append(save_png(sweep_figure(d, names), path))
    return written
