"""``dstl-hpc show``: one image's RGB (and false colour NIR), masks and predictions.

The PNG has four panels a row: the RGB, the false colour image when asked, then one
panel per class with the dimmed RGB and its pixels coloured: truth (cyan),
prediction >= threshold (magenta), both (yellow); with both, the title gives the pixel
Jaccard of this one image at that threshold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.plots.common import (
    BOTH_COLOUR,
    DPI,
    PRED_COLOUR,
    TRUTH_COLOUR,
    class_label,
    dataset_shape,
    image_axes,
    names_of,
    panel_grid,
    read_planes,
    rgb_of,
    save_png,
    stretch,
    stride_for,
)

NCOLS = 4
FALSE_COLOUR = ("M7", "M5", "M3")  # NIR1, red, green

# A panel: (title, (H, W, 3) image, legend entries (colour, label)).
Panel = tuple[str, np.ndarray, list[tuple[str, str]]]


def _false_colour(stack, info: dict, stride: int) -> Panel:
    names, c_all = info["channels"], info["shape"][0]
    try:
        idx = [names.index(n) for n in FALSE_COLOUR]
    except ValueError:
        raise DstlError(f"{stack}: no M channels for a false colour image") from None
    if max(idx) >= c_all:
        raise DstlError(f"{stack}: has {c_all} channels, no M channels for false colour")
    img = stretch(read_planes(stack, "image", idx, stride))
    return "false colour (M7 NIR, M5 red, M3 green)", img, []


def _prediction_planes(predictions, h: int, w: int) -> dict[int, tuple[str, int, float]]:
    """ClassType -> (prediction file, plane, scale) of the prediction HDF5 files."""
    from dstl_hpc.prepare.stacks import open_h5

    pred_of: dict[int, tuple[str, int, float]] = {}
    for p in predictions:
        with open_h5(p, "prob") as h5:
            pshape = h5["prob"].shape
            pcls = [int(c) for c in h5.attrs.get("classes", [])]
            scale = float(h5.attrs.get("scale", 255))
        if pshape[1:] != (h, w):
            raise DstlError(f"{p}: prediction of size {pshape[1:]}, stack is {(h, w)}")
        for plane, k in enumerate(pcls):
            pred_of[k] = (str(p), plane, scale)
    return pred_of


def _classes(classes, pred_of: dict, mask, stride: int, ids: list[int]) -> list[int]:
    """The ClassTypes given, else those predicted, else those in the mask; checked
    against the run's class ``ids`` (1..N: mask plane k-1 is class k)."""
    if classes is None:
        if pred_of:
            classes = sorted(pred_of)
        elif mask is not None:
            m_all = read_planes(mask, "mask", range(len(ids)), stride)
            classes = [k for k in ids if m_all[k - 1].any()]
        else:
            classes = []
    for k in classes:
        if k not in ids:
            raise DstlError(f"--classes: {k} is not a ClassType in {ids[0]}..{ids[-1]}")
    return classes


def _categories(truth, pred, threshold: float, title: str, pred_of: dict, mask):
    """(title, [(pixels, colour, label)]) of a class panel, by what there is to show."""
    pred_label = f"prediction >= {threshold:g}"
    if truth is not None and pred is not None:
        union = int((truth | pred).sum())
        both = (truth & pred).sum()
        title += f": pixel Jaccard {both / union:.3f}" if union else ": no truth, no prediction"
        return title, [
            (truth & ~pred, TRUTH_COLOUR, "truth"),
            (~truth & pred, PRED_COLOUR, pred_label),
            (truth & pred, BOTH_COLOUR, "both"),
        ]
    if truth is not None:
        return title + (" (no prediction)" if pred_of else ""), [(truth, TRUTH_COLOUR, "truth")]
    if pred is not None:
        return title + (" (no mask)" if mask is not None else ""), [(pred, PRED_COLOUR, pred_label)]
    return title + " (no mask, no prediction)", []


def _class_panel(k: int, grey, mask, pred_of: dict, threshold: float, stride: int, names) -> Panel:
    truth = read_planes(mask, "mask", [k - 1], stride)[0] > 0 if mask is not None else None
    pred = None
    if k in pred_of:
        path, plane, scale = pred_of[k]
        prob = read_planes(path, "prob", [plane], stride)[0].astype(np.float32) / scale
        pred = prob >= threshold
    title, cats = _categories(truth, pred, threshold, class_label(k, names), pred_of, mask)
    img = np.repeat(grey, 3, axis=2)
    for sel, colour, _ in cats:
        img[sel] = rgb_of(colour)
    return title, img, [(colour, label) for _, colour, label in cats]


def _figure(panels: list[Panel], h: int, w: int, width_px: int):
    """The panels, ``NCOLS`` a row, with one legend of every colour they use."""
    from matplotlib.patches import Patch

    nrows = math.ceil(len(panels) / NCOLS)
    fig_w = width_px / DPI
    panel_w = fig_w / NCOLS
    size = (fig_w, nrows * (panel_w * h / w + 0.4) + 0.6)
    fig, axes = panel_grid(len(panels), NCOLS, size)
    for ax, (title, img, _) in zip(axes, panels, strict=True):
        image_axes(ax, img, w, h)
        ax.set_title(title, fontsize=9)
    seen = {}
    for _, _, legend in panels:
        for colour, label in legend:
            seen.setdefault(label, colour)
    if seen:
        fig.legend(
            handles=[Patch(color=c, label=lab) for lab, c in seen.items()],
            loc="outside lower center",
            ncols=len(seen),
            fontsize=9,
            frameon=False,
        )
    return fig


def show_figure(
    stack,
    mask=None,
    predictions=(),
    classes=None,
    threshold: float = 0.5,
    false_colour: bool = False,
    width_px: int = 1200,
    known=None,
):
    """One image's RGB (and false colour NIR), and per class truth vs prediction, as
    one figure (unsaved).

    Class panels show the dimmed RGB with pixels coloured: truth (cyan), prediction
    >= ``threshold`` (magenta), both (yellow); with a mask and a prediction the title
    gives the pixel Jaccard of this image. ``known``: the run's classes
    (``ClassInfo``; default the DSTL classes).
    """
    from dstl_hpc.prepare.stacks import stack_info

    if not 0.0 <= threshold <= 1.0:
        raise DstlError(f"--threshold {threshold}: expected a probability in [0, 1]")
    info = stack_info(stack)
    _, h, w = info["shape"]
    s = stride_for(h, w, width_px // NCOLS * 2)
    rgb = stretch(read_planes(stack, "image", [0, 1, 2], s))
    panels: list[Panel] = [("RGB", rgb, [])]
    if false_colour:
        panels.append(_false_colour(stack, info, s))
    pred_of = _prediction_planes(predictions, h, w)
    if mask is not None:
        mshape = dataset_shape(mask, "mask")
        if mshape[1:] != (h, w):
            raise DstlError(f"{mask}: mask of size {mshape[1:]}, stack is {(h, w)}")
    grey = rgb.mean(axis=2, keepdims=True) * 0.6
    names = names_of(known)
    ks = _classes(classes, pred_of, mask, s, list(names))
    panels += [_class_panel(k, grey, mask, pred_of, threshold, s, names) for k in ks]
    fig = _figure(panels, h, w, width_px)
    name = info["image_id"] or Path(stack).stem
    scored = pred_of and mask is not None
    score = f"; pixel Jaccard of this image at p >= {threshold:g}" if scored else ""
    if scored and s > 1:  # the panels (and their scores) read every s-th pixel
        score += f" (every {s}th row and column)"
    fig.suptitle(f"image {name} ({h} x {w} px){score}")
    return fig


def show(stack, out, **options) -> Path:
    """``show_figure`` (whose keyword ``options`` it takes) written to ``out``."""
    return save_png(show_figure(stack, **options), out)
