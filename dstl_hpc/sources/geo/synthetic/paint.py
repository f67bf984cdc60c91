"""The bands of a synthetic geo scene painted from its layout: fields, the features'
spectra and textures, roofs, sensor noise."""

from __future__ import annotations

import numpy as np

from dstl_hpc.sources.geo.synthetic.layout import SceneLayout
from dstl_hpc.sources.geo.synthetic.materials import (
    FIELDS,
    PARKING,
    ROAD,
    ROOFS,
    SPECTRA,
    TREES,
    WATER,
)
from dstl_hpc.sources.geo.synthetic.shapes import seeded_rng


def _noise(rng, shape, sigma: float) -> np.ndarray:
    """Gaussian-smoothed noise with unit standard deviation."""
    import cv2

    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


def paint_bands(layout: SceneLayout, seed: int, index: int, size: int, transform) -> np.ndarray:
    """The scene's six bands (blue, green, red, nir, swir1, swir2) at 2 m, float32."""
    from rasterio.features import rasterize

    rng = seeded_rng(seed, index, 2)
    shape = (size, size)
    img = np.empty((6, size, size), np.float32)

    # Fields: cover spectrum x gain, a low-frequency texture, crop rows in some.
    field_id = rasterize(
        [(f["shape"], k + 1) for k, f in enumerate(layout.fields)],
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )
    table = np.array(
        [FIELDS[0]] + [np.array(FIELDS[f["cover"]]) * f["gain"] for f in layout.fields],
        np.float32,
    )
    img[:] = table[field_id].transpose(2, 0, 1)
    img *= 1 + 0.06 * _noise(rng, shape, 6.0)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    for k, f in enumerate(layout.fields):
        if f["rows"] is None:
            continue
        angle, period = f["rows"]
        m = field_id == k + 1
        wave = np.cos(2 * np.pi * (cols[m] * np.cos(angle) + rows[m] * np.sin(angle)) / period)
        img[:, m] *= 1 + 0.05 * wave

    codes = {"water": WATER, "trees": TREES, "parking": PARKING, "road": ROAD}
    pairs = [(paint, codes[kind]) for kind, _v, _l, paint in layout.features if kind in codes]
    code = (
        rasterize(pairs, out_shape=shape, transform=transform, fill=0, dtype="uint8")
        if pairs
        else np.zeros(shape, np.uint8)
    )
    fine = _noise(rng, shape, 1.0)
    smooth = _noise(rng, shape, 10.0)
    for c, texture in (
        (WATER, 1 + 0.04 * smooth),
        (TREES, None),
        (PARKING, 1 + 0.05 * fine),
        (ROAD, 1 + 0.03 * fine),
    ):
        m = code == c
        if not m.any():
            continue
        spectrum = np.array(SPECTRA[c], np.float32)[:, None]
        if c == TREES:  # crowns: bright nir tops, darker gaps in every band
            crown = fine[m]
            gain = np.where(np.arange(6)[:, None] == 3, 0.22, 0.32) * crown
            img[:, m] = spectrum * (1 + gain) * (1 + 0.08 * smooth[m])
        else:
            img[:, m] = spectrum * texture[m]

    # Buildings: one roof material and gain each; the bow-tie is painted as its repair.
    houses = [paint for kind, _v, _l, paint in layout.features if kind == "building"]
    if houses:
        house_id = rasterize(
            [(paint, n + 1) for n, paint in enumerate(houses)],
            out_shape=shape,
            transform=transform,
            fill=0,
            dtype="int32",
        )
        table = np.zeros((len(houses) + 1, 6), np.float32)
        for n, k in enumerate(layout.buildings):
            table[n + 1] = np.array(ROOFS[layout.roof[k]]) * layout.roof_gain[k]
        m = house_id > 0
        img[:, m] = table[house_id[m]].T * (1 + 0.03 * fine[m])

    img += rng.normal(0.0, 18.0, img.shape).astype(np.float32)  # sensor noise
    return img


def to_uint16(values: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    out = np.clip(np.rint(values), 1, 65535).astype(np.uint16)
    out[:, invalid] = 0
    return out
