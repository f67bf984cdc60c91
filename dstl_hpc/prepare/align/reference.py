"""Fitted references: the least-squares combination of reference bands (R, G, B, or
M1..M8) that best matches a band, so that ECC compares like with like although the
bands see different spectra (``reference="fit"``, see :mod:`dstl_hpc.prepare.align.pair`)."""

from __future__ import annotations

import math

import cv2
import numpy as np

FIT_SAMPLES = 250_000  # pixels sampled for a reference's least-squares fit


def _shifted_target(target, win, dx: float, dy: float) -> np.ndarray:
    """``target`` sampled at the window's pixels + (dx, dy) (bilinear, as ECC's warp)."""
    h, w = target.shape
    ys = np.arange(h, dtype=np.float32)[win[0]] + np.float32(dy)
    xs = np.arange(w, dtype=np.float32)[win[1]] + np.float32(dx)
    map_x = np.broadcast_to(xs[None, :], (len(ys), len(xs))).copy()
    map_y = np.broadcast_to(ys[:, None], (len(ys), len(xs))).copy()
    return cv2.remap(
        np.asarray(target, np.float32), map_x, map_y, cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def fit_weights(
    channels: list[np.ndarray], target: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Weights w of the least-squares fit ``sum_i w_i * channels[i] + c ~ target``.

    All images are 2-D of one shape. ``shift`` is the target's current displacement
    estimate: the target is moved back by it before the fit (borders left out), so
    that the fit compares the same ground.
    """
    h, w = target.shape
    dx, dy = float(shift[0]), float(shift[1])
    margin = 0
    if dx != 0 or dy != 0:
        margin = min(math.ceil(max(abs(dx), abs(dy))) + 1, (min(h, w) - 2) // 2)
    step = max(1, math.ceil(math.sqrt(h * w / FIT_SAMPLES)))
    win = (slice(margin, h - margin, step), slice(margin, w - margin, step))
    if dx != 0 or dy != 0:
        t = _shifted_target(target, win, dx, dy)
    else:
        t = np.asarray(target, np.float32)[win]
    x = np.stack([np.asarray(c, np.float64)[win].ravel() for c in channels], axis=1)
    x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, t.ravel().astype(np.float64), rcond=None)
    return coef[:-1]


def combine(channels: list[np.ndarray], weights) -> np.ndarray:
    """``sum_i weights[i] * channels[i]`` as float32."""
    out = np.zeros(channels[0].shape, np.float32)
    for c, k in zip(channels, weights, strict=True):
        out += np.float32(k) * np.asarray(c, np.float32)
    return out


def fit_reference(
    channels: list[np.ndarray], target: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """The combination of ``channels`` closest to ``target`` (see :func:`fit_weights`):
    a grey reference matched to the band's spectrum."""
    return combine(channels, fit_weights(channels, target, shift))
