"""Where a training patch's target may lie: anywhere, or clear of the image's edges.

``sample_margin`` (a training setting) keeps a patch's target square (``patch_inner``
side) at least that many pixels from every edge of its image. 0 (the default): the
target lies anywhere and the context beyond an edge is mirrored, as the predictor
mirrors an image's edges. ``auto``: the patch's border plus the rotated window's reach
(``window_pad``), so that no pixel a patch reads, at any angle, lies outside the image:
the seed's patches (lopuhin/kaggle-dstl) were cut from within the image. An image too
small for the margin on an axis gets the largest margin it holds there (a warning).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("dstl_hpc.train")


def margin_px(setting, border: int, pad: int) -> int:
    """The margin in pixels of a ``sample_margin`` setting (an int, or "auto"), for
    patches of ``border`` context pixels whose rotated window reaches ``pad`` further."""
    return int(border) + int(pad) if setting == "auto" else int(setting)


def axis_span(size: int, inner: int, margin: int) -> tuple[int, int]:
    """[lo, hi) of a target's first pixel on an axis of ``size`` pixels: within the
    margin where the axis holds it, else as far in as it can (an axis shorter than
    the target: the target is mirrored beyond its end, as without a margin)."""
    room = size - inner
    if room < 0:
        return room, 1
    m = min(margin, room // 2)
    return m, room - m + 1


def target_position(rng: np.random.Generator, h: int, w: int, inner: int, margin: int):
    """(top, left) of a target square in an (h, w) image, drawn uniformly within the
    margin (rows first: the draws' order of every patch)."""
    top = int(rng.integers(*axis_span(h, inner, margin)))
    left = int(rng.integers(*axis_span(w, inner, margin)))
    return top, left


def check_margin(shapes, paths, inner: int, margin: int) -> None:
    """Warn, naming the stacks, when images cannot hold the margin on an axis."""
    small = [str(p) for (h, w), p in zip(shapes, paths, strict=True)
             if min(h, w) - inner < 2 * margin]  # fmt: skip
    if margin and small:
        log.warning(
            "sample_margin %d px: %d image(s) too small to keep it on every side (targets "
            "as far in as they fit): %s",
            margin,
            len(small),
            ", ".join(small[:5]) + (" ..." if len(small) > 5 else ""),
        )
