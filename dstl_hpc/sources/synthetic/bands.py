"""From a rendered scene to the four DSTL images: band sizes, calibration, displacement.

Bands: R, G, B are M5, M3, M2 at full resolution and P is a weighted mean of
M2..M7; M and A are RGB size / 4 and / 25, rounded, as 3348 x 3392 -> 837 x 848
and 134 x 136. Reflectance maps to digital numbers through a per-band gain and
offset chosen so that a typical scene has the means and standard deviations of the
real training images (11-bit RGB, P, M; 14-bit A).

Band displacement: the scene is rendered at RGB resolution, shifted by a known
sub-pixel translation and downsampled with pixel-area averaging to the band's size
(:func:`displace`). A feature at RGB pixel (x, y) then appears in the band at
``(x * w_band / W + dx, y * h_band / H + dy)`` (continuous pixel coordinates, the
origin at the top-left corner of the top-left pixel), the sense of the stack's
``alignment`` attribute. The offsets are recorded in ``synth_truth.json``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dstl_hpc.sources.synthetic.materials import material_table

# Band size = round(RGB size / factor): the real 3348 x 3392 gives 837 x 848 and 134 x 136.
BAND_FACTORS = {"P": 1, "M": 4, "A": 25}
# Largest |dx|, |dy| of a band's content relative to RGB, in pixels of that band.
OFFSET_LIMITS = {"P": 2.5, "M": 2.5, "A": 1.5}
# cv2.warpAffine interpolates at 1/32 pixel; shifts are drawn on that grid so that
# the recorded offsets are exact.
_SUBPIXEL = 32

# Real per-channel statistics (reference-solution.md, "Real value ranges").
REAL_MEAN = {
    "RGB": (414.0, 460.0, 326.0),
    "P": 503.0,
    "M": (295.0, 326.0, 460.0, 482.0, 414.0, 528.0, 678.0, 530.0),
    "A": (4243.0, 4473.0, 4179.0, 3708.0, 2887.0, 2590.0, 2526.0, 2417.0),
}
REAL_STD = {
    "RGB": (62.0, 47.0, 25.0),
    "P": 55.0,
    "M": (13.0, 25.0, 47.0, 62.0, 62.0, 59.0, 86.0, 69.0),
    "A": (448.0, 635.0, 567.0, 523.0, 530.0, 462.0, 487.0, 479.0),
}
MAX_VALUE = {"RGB": 2047, "P": 2047, "M": 2047, "A": 16383}
RGB_FROM_M = (4, 2, 1)  # R = M5, G = M3, B = M2
P_WEIGHTS = np.array([0.0, 0.15, 0.2, 0.15, 0.2, 0.15, 0.15, 0.0])  # over M1..M8

# Mean and standard deviation of the rendered reflectance of each channel over
# typical synthetic scenes (36 images of 384 x 384, seeds 0-2, each band at its own
# resolution). The gains and offsets map them onto the real statistics.
SCENE_REFL_MEAN = {
    "RGB": (0.0993, 0.1026, 0.0649),
    "P": (0.1475,),
    "M": (0.0597, 0.0649, 0.1027, 0.1033, 0.0993, 0.1969, 0.3494, 0.3663),
    "A": (0.3161, 0.287, 0.275, 0.2595, 0.1798, 0.171, 0.1615, 0.1536),
}
SCENE_REFL_STD = {
    "RGB": (0.0599, 0.0319, 0.0309),
    "P": (0.0361,),
    "M": (0.0219, 0.0266, 0.0269, 0.0388, 0.0538, 0.0384, 0.0978, 0.1023),
    "A": (0.0456, 0.0495, 0.0516, 0.0498, 0.0508, 0.0491, 0.0485, 0.0475),
}


def _calibration() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Band -> (gain, offset) per channel, with DN = offset + gain * reflectance."""
    out = {}
    for band in REAL_MEAN:
        gain = np.atleast_1d(REAL_STD[band]) / np.asarray(SCENE_REFL_STD[band])
        offset = np.atleast_1d(REAL_MEAN[band]) - gain * np.asarray(SCENE_REFL_MEAN[band])
        out[band] = (gain, offset)
    return out


CALIBRATION = _calibration()


def band_shape(height: int, width: int, band: str) -> tuple[int, int]:
    """(h, w) of a band for an RGB image of (height, width): rounded size / factor."""
    f = BAND_FACTORS[band]
    return max(2, int(math.floor(height / f + 0.5))), max(2, int(math.floor(width / f + 0.5)))


# ------------------------------------------------------------- band displacement


def displace(plane: np.ndarray, dx: float, dy: float, out_shape: tuple[int, int]) -> np.ndarray:
    """Shift a full-resolution float32 plane and downsample it to ``out_shape`` (h, w).

    ``dx, dy`` are in pixels of the output band: a feature at input pixel (x, y)
    ends up at ``(x * w / W + dx, y * h / H + dy)`` (continuous coordinates with the
    origin at the image corner: pixel u's centre is u + 0.5). The shift is applied
    at full resolution (bilinear, reflected border) and the downsampling averages
    pixel areas (cv2.INTER_AREA), which keeps pixel centres where they belong.
    """
    big_h, big_w = plane.shape
    h, w = int(out_shape[0]), int(out_shape[1])
    sx, sy = dx * big_w / w, dy * big_h / h
    matrix = np.array([[1.0, 0.0, sx], [0.0, 1.0, sy]], dtype=np.float64)
    shifted = cv2.warpAffine(
        plane, matrix, (big_w, big_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    if (h, w) == (big_h, big_w):
        return shifted
    return cv2.resize(shifted, (w, h), interpolation=cv2.INTER_AREA)


def draw_offset(rng: np.random.Generator, band: str, big: int, small: int) -> float:
    """An offset (band pixels) whose full-resolution shift lies on the 1/32 pixel grid."""
    limit = OFFSET_LIMITS[band]
    scale = big / small  # full-resolution pixels per band pixel
    steps = math.floor(limit * scale * _SUBPIXEL)
    shift = int(rng.integers(-steps, steps + 1)) / _SUBPIXEL
    return shift / scale


def draw_offsets(rng: np.random.Generator, height: int, width: int, shapes) -> dict:
    """Band -> (dx, dy) for an RGB image of (height, width) and its bands' ``shapes``."""
    offsets = {}
    for band in BAND_FACTORS:
        h, w = shapes[band]
        offsets[band] = (draw_offset(rng, band, width, w), draw_offset(rng, band, height, h))
    return offsets


def to_dn(plane: np.ndarray, band: str, channel: int, gain_scale, offset_scale, rng):
    """Reflectance -> digital numbers of the band, with sensor noise, as uint16."""
    gain, offset = CALIBRATION[band]
    g = float(gain[channel]) * gain_scale
    o = float(offset[channel]) * offset_scale
    out = plane * np.float32(g) + np.float32(o)
    sd = 0.08 * float(np.atleast_1d(REAL_STD[band])[channel])
    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(sd)
    np.clip(np.rint(out), 0, MAX_VALUE[band], out=out)
    return out.astype(np.uint16)


def render_bands(rng, material, bright, offsets, shapes) -> dict[str, np.ndarray]:
    """RGB (3,H,W), P (H,W), M (8,h,w), A (8,h,w) uint16 from the full-resolution scene."""
    table, _ = material_table()
    # Per-image spectral variation of every material (a few percent).
    table = (
        table
        * (1 + 0.04 * rng.standard_normal((len(table), 1)))
        * (1 + 0.02 * rng.standard_normal(table.shape))
    )
    table = np.clip(table, 0.001, None).astype(np.float32)
    gain_scale = rng.uniform(0.92, 1.08)
    offset_scale = rng.uniform(0.96, 1.04)

    def plane(values: np.ndarray) -> np.ndarray:
        lut = np.zeros(256, np.float32)
        lut[: len(values)] = values
        p = cv2.LUT(material, lut)
        p *= bright
        return p

    out: dict[str, np.ndarray] = {}
    rgb = []
    for c, m in enumerate(RGB_FROM_M):
        p = cv2.GaussianBlur(plane(table[:, m]), (0, 0), 0.6)
        rgb.append(to_dn(p, "RGB", c, gain_scale, offset_scale, rng))
    out["RGB"] = np.stack(rgb)
    p = plane(table[:, :8] @ P_WEIGHTS.astype(np.float32))
    p = displace(p, offsets["P"][0], offsets["P"][1], shapes["P"])
    out["P"] = to_dn(p, "P", 0, gain_scale, offset_scale, rng)
    for band, first in (("M", 0), ("A", 8)):
        planes = []
        for c in range(8):
            p = displace(plane(table[:, first + c]), *offsets[band], shapes[band])
            p = cv2.GaussianBlur(p, (0, 0), 0.5, borderType=cv2.BORDER_REFLECT_101)
            planes.append(to_dn(p, band, c, gain_scale, offset_scale, rng))
        out[band] = np.stack(planes)
    return out
