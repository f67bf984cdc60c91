"""Rendering a scene at RGB resolution: a material per pixel and a brightness per pixel.

The class of each pixel comes from the round-tripped labels (exact rasterisation,
:func:`dstl_hpc.prepare.raster.rasterize`); the material within a class from the objects'
own materials (an approximate fill), the background's from smooth noise. The
brightness carries illumination, class texture, crop rows, darker roof halves and
the shadows that buildings and trees cast on the ground.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from shapely import affinity
from shapely.geometry import MultiPolygon

from dstl_hpc.prepare.raster import rasterize
from dstl_hpc.sources.dstl import CLASS_TYPES
from dstl_hpc.sources.synthetic.labels import OVERLAYS, PRIORITY
from dstl_hpc.sources.synthetic.materials import CLASS_MATERIALS, TEXTURE, material_table
from dstl_hpc.sources.synthetic.scene import Scene
from dstl_hpc.sources.synthetic.shapes import parts


def smooth_noise(rng, height, width, sigma, down=1) -> np.ndarray:
    """Gaussian-blurred white noise (std 1), made at 1/down resolution and upsampled."""
    h, w = max(2, -(-height // down)), max(2, -(-width // down))
    noise = rng.standard_normal((h, w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma / down, borderType=cv2.BORDER_REFLECT_101)
    if down > 1:
        noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    noise -= noise.mean()
    noise /= noise.std() + 1e-9
    return noise


def fill(img: np.ndarray, geom, value) -> None:
    """cv2.fillPoly of every exterior ring of ``geom`` (holes ignored), sub-pixel."""
    for poly in parts(geom):
        pts = np.round(np.asarray(poly.exterior.coords)[:, :2] * 16).astype(np.int32)
        cv2.fillPoly(img, [pts], value, cv2.LINE_8, 4)


def _rasterize_in_bounds(geom, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask of ``raster.rasterize`` done only over geom's bounds."""
    minx, miny, maxx, maxy = geom.bounds
    x0, y0 = max(int(math.floor(minx)), 0), max(int(math.floor(miny)), 0)
    x1, y1 = min(int(math.ceil(maxx)) + 1, width), min(int(math.ceil(maxy)) + 1, height)
    mask = np.zeros((height, width), bool)
    if x1 > x0 and y1 > y0:
        local = affinity.translate(geom, -x0, -y0)  # integer shift: exact pixel centres
        mask[y0:y1, x0:x1] = rasterize(local, (y1 - y0, x1 - x0)) > 0
    return mask


def render_scene(
    rng: np.random.Generator,
    scene: Scene,
    labels_px: dict[int, MultiPolygon],
) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """(material index map uint8, brightness float32, class area fractions) at RGB size.

    The class of each pixel comes from ``labels_px`` (exact rasterisation); the
    material within a class from the objects' materials (approximate fill).
    Fractions are per label (a road's counts the pixels under its vehicles).
    """
    classmap, fractions = _class_map(labels_px, scene.height, scene.width)
    material = _materials(rng, scene, classmap)
    bright = _brightness(rng, scene, classmap)
    bright *= _shade(rng, scene, classmap, labels_px)
    np.clip(bright, 0.05, 3.0, out=bright)
    return material, bright.astype(np.float32), fractions


def _class_map(labels_px, height: int, width: int) -> tuple[np.ndarray, dict[int, float]]:
    """(ClassType per pixel, uint8, 0 unlabelled; fraction of the image per label)."""
    classmap = np.zeros((height, width), np.uint8)
    fractions = dict.fromkeys(CLASS_TYPES, 0.0)
    for cls in PRIORITY[::-1] + OVERLAYS:
        geom = labels_px.get(cls)
        if geom is None or geom.is_empty:
            continue
        mask = _rasterize_in_bounds(geom, height, width)
        classmap[mask] = cls
        fractions[cls] = float(np.count_nonzero(mask)) / mask.size
    return classmap, fractions


def _materials(rng, scene: Scene, classmap: np.ndarray) -> np.ndarray:
    """Material index per pixel: background by smooth noise, objects by their own material."""
    height, width = classmap.shape
    _, index = material_table()
    material = np.full((height, width), index["grass"], np.uint8)
    bg = smooth_noise(rng, height, width, sigma=0.04 * math.sqrt(height * width), down=8)
    q_dry, q_soil = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
    lo, hi = np.quantile(bg[:: max(1, height // 64), :: max(1, width // 64)], [q_dry, 1 - q_soil])
    material[bg < lo] = index["dry_grass"]
    material[bg > hi] = index["soil"]
    for cls in PRIORITY[::-1] + OVERLAYS:
        for poly, name in scene.objects.get(cls, []):
            fill(material, poly, int(index[name]))
    # Where the fill and the exact class disagree (edges, cut-outs), use the class's
    # first material: every labelled pixel must show its class's spectrum.
    allowed = np.zeros((len(CLASS_MATERIALS), 256), bool)
    for cls, mats in CLASS_MATERIALS.items():
        for name, _ in mats:
            allowed[cls, index[name]] = True
    bad = ~allowed[classmap, material]
    if bad.any():
        first = np.array([index[CLASS_MATERIALS[c][0][0]] for c in range(11)], np.uint8)
        material[bad] = first[classmap[bad]]
    return material


def _brightness(rng, scene: Scene, classmap: np.ndarray) -> np.ndarray:
    """Brightness per pixel (float32, about 1): illumination, class texture, crop rows."""
    height, width = classmap.shape
    u = scene.unit
    side = math.sqrt(height * width)
    bright = 1.0 + 0.06 * smooth_noise(rng, height, width, sigma=0.08 * side, down=16)
    texture = np.asarray(TEXTURE, np.float32)[classmap]
    bright += texture * smooth_noise(rng, height, width, sigma=1.0 * u, down=max(1, int(u)))
    for poly, angle, period, amp in scene.fields:
        minx, miny, maxx, maxy = poly.bounds
        x0, y0 = max(int(minx), 0), max(int(miny), 0)
        x1, y1 = min(int(math.ceil(maxx)) + 1, width), min(int(math.ceil(maxy)) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        sub_cls = classmap[y0:y1, x0:x1] == 6
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        stripes = 1.0 + amp * np.sin(phase + rng.uniform(0, 2 * np.pi))
        local = np.zeros(sub_cls.shape, np.uint8)
        fill(local, affinity.translate(poly, -x0, -y0), 1)
        sel = sub_cls & (local > 0)
        bright[y0:y1, x0:x1][sel] *= stripes[sel]
    return bright


def _shade(rng, scene: Scene, classmap: np.ndarray, labels_px) -> np.ndarray:
    """Brightness factor per pixel: darker roof halves, and shadows that buildings,
    structures and trees cast away from the sun onto the ground (never onto themselves)."""
    u = scene.unit
    shade = np.ones(classmap.shape, np.float32)
    for half in scene.roof_halves:
        fill(shade, half, 0.82)
    shade[classmap != 1] = 1.0
    shadow = np.zeros(classmap.shape, np.uint8)
    ux, uy = scene.sun
    lengths = ((1, rng.uniform(2.5, 5.0) * u), (2, 1.5 * u), (5, rng.uniform(2.0, 4.0) * u))
    for cls, length in lengths:
        geom = labels_px.get(cls)
        if geom is None or geom.is_empty:
            continue
        fill(shadow, affinity.translate(geom, ux * length, uy * length), 1)
    shadow[(classmap == 1) | (classmap == 2) | (classmap == 5)] = 0
    shade[shadow > 0] *= rng.uniform(0.4, 0.5)
    return shade
