"""Tile geometry and mirror indices (numpy only), shared by training and prediction.

``reflect_indices`` is the one mirroring of the project: reflect-101, like numpy's
``np.pad(mode="reflect")`` and ``cv2.BORDER_REFLECT_101`` (the edge pixel is not
repeated), for any distance outside the image. Training patches that leave the image
(``dstl_hpc.train.sampler``) and the context of prediction and validation tiles
(``dstl_hpc.predict.tiled``) are read through it, so an image's edge looks the same to the
net in training as when it predicts.
"""

from __future__ import annotations

import math

import numpy as np


def reflect_indices(start: int, length: int, size: int) -> np.ndarray:
    """Indices ``start .. start + length - 1`` mirrored into ``[0, size)`` (reflect-101)."""
    idx = np.arange(start, start + length, dtype=np.int64)
    if size == 1:
        return np.zeros_like(idx)
    period = 2 * (size - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= size, period - idx, idx)


def fit_side(side: int, border: int, divisor: int) -> int:
    """The smallest output side >= ``side`` whose input side (+ 2 border) is divisible."""
    side = max(1, int(side))
    return side + (-(side + 2 * border)) % divisor


def axis_tiles(length: int, tile: int, max_offset: int, border: int, divisor: int) -> int:
    """Output tile side along one axis: about ``tile``, balanced to cover the axis."""
    need = length + max_offset
    n = math.ceil(need / fit_side(tile, border, divisor))
    return fit_side(math.ceil(need / n), border, divisor)


def shift_offsets(patch_inner: int, shift_steps: int, shift_average: bool = True) -> list[int]:
    """Offsets along one axis of the tilings whose probabilities are averaged (the one
    shift-averaging rule, of prediction, validation and benchmarks): with
    ``shift_average``, ``int(i * patch_inner / shift_steps)`` for ``i < shift_steps``;
    without it one tiling, ``[0]``. The tilings are every (oy, ox) pair of offsets."""
    steps = max(1, int(shift_steps)) if shift_average else 1
    return [int(i * patch_inner / steps) for i in range(steps)]
