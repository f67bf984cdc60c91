"""A synthetic dataset in the exact DSTL layout (``dstl-hpc synth``).

Every image is a small landscape drawn from polygons in RGB pixel coordinates:
fields with crop rows, woodland, tree clumps and hedgerows, a meandering river,
ponds, roads with side streets, winding tracks, buildings (rotated, L-shaped, with
courtyards), sheds and fences, and vehicles on the roads and beside the houses.

Labels and imagery agree by construction: the class polygons are made mutually
exclusive in a fixed priority order (vehicles are the exception: they lie on top
of the road, whose label keeps going under them), written to WKT in grid
coordinates, read back, and the pixels of each class are painted from that
round-tripped geometry with :func:`dstl_hpc.raster.rasterize`, so that the masks
a later step rasterises from ``train_wkt_v4.csv`` are the pixels that were drawn.

Classes are not separable by colour alone: tracks and ploughed fields share the
bare-soil spectrum (shape and row texture separate them), waterway and standing
water share one spectrum (only shape separates them), grey roofs look like
concrete roads, ripe crops like dry grass, and shadows of buildings and trees are
dark but unlabelled.

Spectra: each material has a reflectance in the 16 bands M1..M8 (coastal, blue,
green, yellow, red, red edge, NIR1, NIR2) and A1..A8 (SWIR); R, G, B are M5, M3,
M2 at full resolution and P is a weighted mean of M2..M7. Reflectance maps to
digital numbers through a per-band gain and offset chosen so that a typical scene
has the means and standard deviations of the real training images (11-bit RGB,
P, M; 14-bit A).

Band displacement: the scene is rendered at RGB resolution, shifted by a known
sub-pixel translation and downsampled with pixel-area averaging to the band's size
(:func:`displace`). A feature at RGB pixel (x, y) then appears in the band at
``(x * w_band / W + dx, y * h_band / H + dy)`` (continuous pixel coordinates, the
origin at the top-left corner of the top-left pixel), the sense of the stack's
``alignment`` attribute. The offsets are recorded in ``synth_truth.json``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from dstl_hpc.dataset import (
    CLASS_TYPES,
    Layout,
    grid_to_pixels,
    parse_wkt,
    pixels_to_grid,
    synthetic_ids,
)
from dstl_hpc.errors import DstlError
from dstl_hpc.raster import rasterize

log = logging.getLogger(__name__)

DEFAULT_IMAGES = 12
DEFAULT_TRAIN = 8
DEFAULT_SIZE = (384, 384)
DEFAULT_SEED = 0
MIN_SIZE = 64
MAX_SIZE = 20000

# Band size = round(RGB size / factor): the real 3348 x 3392 gives 837 x 848 and 134 x 136.
BAND_FACTORS = {"P": 1, "M": 4, "A": 25}
# Largest |dx|, |dy| of a band's content relative to RGB, in pixels of that band.
OFFSET_LIMITS = {"P": 2.5, "M": 2.5, "A": 1.5}
# cv2.warpAffine interpolates at 1/32 pixel; shifts are drawn on that grid so that
# the recorded offsets are exact.
_SUBPIXEL = 32

EMPTY_WKT = "MULTIPOLYGON EMPTY"

# Exclusive classes from top (wins) to bottom; vehicles (9, 10) lie on top of all.
PRIORITY = (1, 2, 3, 4, 7, 8, 5, 6)
OVERLAYS = (9, 10)

# ----------------------------------------------------------------------- spectra

# Reflectance in M1..M8 (coastal, blue, green, yellow, red, red edge, NIR1, NIR2)
# then A1..A8 (SWIR 1.2 .. 2.3 um).
MATERIALS: dict[str, tuple[float, ...]] = {
    "grass": (.05, .05, .09, .08, .06, .20, .42, .44, .34, .28, .26, .24, .14, .13, .12, .11),
    "dry_grass": (.07, .08, .12, .13, .13, .20, .30, .31, .36, .36, .35, .33, .25, .24, .23, .22),
    "soil": (.08, .10, .14, .17, .20, .23, .26, .28, .32, .36, .37, .36, .31, .30, .29, .28),
    "track": (.09, .11, .15, .18, .21, .24, .27, .29, .33, .37, .38, .37, .32, .31, .30, .29),
    "asphalt": (.08, .08, .09, .09, .10, .10, .11, .11, .12, .13, .13, .13, .12, .12, .12, .12),
    "concrete": (.16, .18, .20, .21, .22, .23, .24, .25, .27, .29, .29, .29, .26, .26, .25, .25),
    "roof_red": (.06, .06, .07, .12, .22, .24, .27, .28, .31, .33, .33, .32, .28, .27, .26, .26),
    "roof_grey": (.14, .16, .18, .19, .20, .21, .22, .23, .25, .27, .27, .27, .24, .24, .23, .23),
    "roof_metal": (.30, .32, .33, .33, .33, .33, .33, .33, .31, .30, .30, .30, .28, .28, .27, .27),
    "roof_dark": (.05, .05, .06, .06, .06, .07, .08, .08, .09, .10, .10, .10, .09, .09, .09, .09),
    "wood": (.07, .08, .10, .12, .14, .16, .18, .19, .24, .27, .27, .26, .22, .21, .21, .20),
    "trees": (.03, .03, .06, .05, .04, .15, .36, .38, .24, .17, .15, .14, .07, .07, .06, .06),
    "trees_light": (.04, .04, .08, .06, .05, .18, .40, .42, .28, .20, .18, .17, .09, .09, .08, .08),
    "crop_green": (.04, .04, .09, .07, .05, .22, .48, .50, .36, .28, .26, .24, .13, .12, .11, .10),
    "crop_ripe": (.07, .08, .13, .15, .16, .22, .31, .32, .37, .38, .37, .35, .27, .26, .25, .24),
    "crop_plough": (.08, .09, .13, .16, .19, .22, .25, .27, .31, .35, .36, .35, .30, .29, .28, .27),
    "water": (.07, .08, .08, .06, .04, .03, .02, .015, .010, .008, .008, .008, .005, .005, .005, .005),
    "water_turbid": (.08, .09, .11, .09, .07, .05, .04, .03, .02, .012, .011, .01, .008, .008, .008, .008),
    "veh_white": (.40, .42, .43, .43, .43, .42, .41, .40, .35, .33, .32, .31, .28, .28, .27, .27),
    "veh_black": (.05, .05, .05, .05, .05, .05, .06, .06, .06, .06, .06, .06, .06, .06, .06, .06),
    "veh_red": (.06, .05, .05, .10, .30, .32, .33, .33, .30, .28, .28, .27, .24, .24, .23, .23),
    "veh_blue": (.12, .16, .10, .07, .05, .06, .08, .08, .08, .08, .08, .08, .07, .07, .07, .07),
    "veh_silver": (.25, .26, .27, .27, .27, .27, .27, .27, .24, .23, .23, .22, .20, .20, .19, .19),
    "veh_green": (.05, .05, .09, .08, .07, .10, .14, .15, .14, .13, .12, .12, .10, .10, .09, .09),
    "veh_yellow": (.08, .09, .28, .33, .35, .36, .36, .36, .32, .30, .30, .29, .26, .26, .25, .25),
}
MATERIAL_NAMES = tuple(MATERIALS)

# Class 0 is the unlabelled background. A class's pixels take one of its materials,
# chosen per object (per area for the background) with these weights.
CLASS_MATERIALS: dict[int, tuple[tuple[str, float], ...]] = {
    0: (("grass", 0.6), ("dry_grass", 0.2), ("soil", 0.2)),
    1: (("roof_red", 0.35), ("roof_grey", 0.35), ("roof_metal", 0.15), ("roof_dark", 0.15)),
    2: (("concrete", 0.3), ("wood", 0.3), ("roof_metal", 0.2), ("roof_dark", 0.2)),
    3: (("asphalt", 0.7), ("concrete", 0.3)),
    4: (("track", 1.0),),
    5: (("trees", 0.6), ("trees_light", 0.4)),
    6: (("crop_green", 0.45), ("crop_ripe", 0.3), ("crop_plough", 0.25)),
    7: (("water", 0.6), ("water_turbid", 0.4)),
    8: (("water", 0.6), ("water_turbid", 0.4)),
    9: (("veh_white", 0.4), ("veh_silver", 0.3), ("veh_green", 0.15), ("veh_yellow", 0.15)),
    10: (
        ("veh_white", 0.25),
        ("veh_black", 0.2),
        ("veh_silver", 0.25),
        ("veh_red", 0.15),
        ("veh_blue", 0.15),
    ),
}
# Multiplicative texture amplitude of each class (tree crowns are strongly textured).
TEXTURE = (0.10, 0.05, 0.06, 0.04, 0.08, 0.30, 0.07, 0.03, 0.03, 0.03, 0.03)

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

# The material mix of a "typical" scene, used only to calibrate gains and offsets.
_TYPICAL_MIX = {
    "grass": 0.26, "dry_grass": 0.06, "soil": 0.07, "track": 0.02, "asphalt": 0.02,
    "concrete": 0.01, "roof_red": 0.02, "roof_grey": 0.02, "roof_metal": 0.005,
    "roof_dark": 0.005, "trees": 0.08, "trees_light": 0.05, "crop_green": 0.14,
    "crop_ripe": 0.09, "crop_plough": 0.06, "water": 0.02, "water_turbid": 0.01,
}  # fmt: skip
_TYPICAL_CV = 0.15  # brightness texture and shadows


def _calibration() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Band -> (gain, offset) with DN = offset + gain * reflectance."""
    refl = np.array([MATERIALS[n] for n in _TYPICAL_MIX], dtype=np.float64)
    weights = np.array(list(_TYPICAL_MIX.values()))
    weights = weights / weights.sum()

    def fit(r: np.ndarray, mean, std):
        mu = weights @ r
        second = weights @ (r**2) * (1 + _TYPICAL_CV**2)
        sigma = np.sqrt(np.maximum(second - mu**2, 1e-12))
        gain = np.asarray(std) / sigma
        return gain, np.asarray(mean) - gain * mu

    return {
        "RGB": fit(refl[:, list(RGB_FROM_M)], REAL_MEAN["RGB"], REAL_STD["RGB"]),
        "P": fit(refl[:, :8] @ P_WEIGHTS, REAL_MEAN["P"], REAL_STD["P"]),
        "M": fit(refl[:, :8], REAL_MEAN["M"], REAL_STD["M"]),
        "A": fit(refl[:, 8:], REAL_MEAN["A"], REAL_STD["A"]),
    }


CALIBRATION = _calibration()

# --------------------------------------------------------------------- options


@dataclass(frozen=True)
class SynthOptions:
    n_images: int = DEFAULT_IMAGES
    n_train: int = DEFAULT_TRAIN
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int = DEFAULT_SEED

    def validate(self) -> None:
        if self.n_images < 2:
            raise DstlError(f"synthetic dataset: need at least 2 images, got {self.n_images}")
        if not 0 < self.n_train < self.n_images:
            raise DstlError(
                f"synthetic dataset: need 0 < train images ({self.n_train}) < images "
                f"({self.n_images}): at least one test image"
            )
        if len(self.size) != 2:
            raise DstlError(f"synthetic dataset: size must be H W, got {self.size}")
        h, w = self.size
        if min(h, w) < MIN_SIZE:
            raise DstlError(f"synthetic dataset: size {h} x {w} is too small (minimum {MIN_SIZE})")
        if max(h, w) > MAX_SIZE:
            raise DstlError(f"synthetic dataset: size {h} x {w} is too large (maximum {MAX_SIZE})")
        if self.seed < 0:
            raise DstlError(f"synthetic dataset: seed must be >= 0, got {self.seed}")


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


def _draw_offset(rng: np.random.Generator, band: str, big: int, small: int) -> float:
    """An offset (band pixels) whose full-resolution shift lies on the 1/32 pixel grid."""
    limit = OFFSET_LIMITS[band]
    scale = big / small  # full-resolution pixels per band pixel
    steps = math.floor(limit * scale * _SUBPIXEL)
    shift = int(rng.integers(-steps, steps + 1)) / _SUBPIXEL
    return shift / scale


# ------------------------------------------------------------------- geometry


def _transform(local: np.ndarray, cx: float, cy: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return local @ rot + np.array([cx, cy])


def _rect(cx, cy, length, width, angle) -> Polygon:
    hx, hy = length / 2, width / 2
    local = np.array([(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)])
    return Polygon(_transform(local, cx, cy, angle))


def _l_shape(cx, cy, a, b, wa, wb, angle) -> Polygon:
    local = np.array(
        [
            (-a / 2, -b / 2),
            (a / 2, -b / 2),
            (a / 2, b / 2 + wb),
            (a / 2 - wa, b / 2 + wb),
            (a / 2 - wa, b / 2),
            (-a / 2, b / 2),
        ]
    )
    return Polygon(_transform(local, cx, cy, angle))


def _courtyard(cx, cy, a, b, t, angle) -> Polygon:
    outer = np.array([(-a / 2, -b / 2), (a / 2, -b / 2), (a / 2, b / 2), (-a / 2, b / 2)])
    ia, ib = a / 2 - t, b / 2 - t
    inner = np.array([(-ia, -ib), (-ia, ib), (ia, ib), (ia, -ib)])
    return Polygon(_transform(outer, cx, cy, angle), [_transform(inner, cx, cy, angle)])


def _blob(rng, cx, cy, radius, aspect=1.0, angle=0.0, rough=0.25, n=None) -> Polygon:
    """A star-shaped noisy ellipse (always a valid simple polygon)."""
    n = n or int(np.clip(radius * 1.5, 10, 160))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    noise = rng.normal(0, 1, n)
    # Smooth the radial noise circularly so that outlines are lumpy, not spiky.
    k = max(1, n // 12)
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    noise = np.convolve(np.concatenate([noise[-k:], noise, noise[:k]]), kernel, "valid")
    noise = noise / (noise.std() + 1e-9)
    r = radius * np.clip(1 + rough * noise, 0.4, 1.8)
    local = np.stack([r * np.cos(t), aspect * r * np.sin(t)], axis=1)
    return Polygon(_transform(local, cx, cy, angle))


def _walk(rng, x, y, heading, step, n, turn_sd, momentum=0.0) -> np.ndarray:
    """A random-walk polyline of n steps; turns are correlated when momentum > 0."""
    turns = rng.normal(0, turn_sd, n)
    if momentum > 0:
        for i in range(1, n):
            turns[i] += momentum * turns[i - 1]
    headings = heading + np.cumsum(turns)
    pts = np.empty((n + 1, 2))
    pts[0] = (x, y)
    pts[1:, 0] = x + np.cumsum(step * np.cos(headings))
    pts[1:, 1] = y + np.cumsum(step * np.sin(headings))
    return pts


def _edge_start(rng, height, width, margin=8.0):
    """A point just outside a random edge and a heading into the image."""
    side = int(rng.integers(4))
    jitter = rng.uniform(-0.6, 0.6)
    if side == 0:
        return rng.uniform(0, width), -margin, math.pi / 2 + jitter
    if side == 1:
        return rng.uniform(0, width), height + margin, -math.pi / 2 + jitter
    if side == 2:
        return -margin, rng.uniform(0, height), 0.0 + jitter
    return width + margin, rng.uniform(0, height), math.pi + jitter


def _polys(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def _clean(geom, min_area: float = 0.5) -> MultiPolygon:
    """A valid MultiPolygon without slivers."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return MultiPolygon([p for p in _polys(geom) if p.area >= min_area])


# ------------------------------------------------------------------- scene


@dataclass
class Scene:
    height: int
    width: int
    # ClassType -> [(polygon in pixel coordinates, material name)]
    objects: dict[int, list[tuple[Polygon, str]]] = field(default_factory=dict)
    # Crop fields: (polygon, row angle, row period px, row amplitude)
    fields: list[tuple[Polygon, float, float, float]] = field(default_factory=list)
    # Roofs with a darker half: polygon of the half
    roof_halves: list[Polygon] = field(default_factory=list)
    sun: tuple[float, float] = (1.0, 1.0)

    def add(self, class_type: int, poly: Polygon, material: str) -> None:
        self.objects.setdefault(class_type, []).append((poly, material))


class _Occupancy:
    """Bit flags per pixel (drawn with cv2.fillPoly) to keep objects apart quickly."""

    ROAD, BUILDING, WATER, VEHICLE, TREE, TRACK = 1, 2, 4, 8, 16, 32

    def __init__(self, height: int, width: int):
        self.grid = np.zeros((height, width), np.uint8)

    def _local(self, geom):
        if geom is None or geom.is_empty:
            return None
        h, w = self.grid.shape
        minx, miny, maxx, maxy = geom.bounds
        x0, y0 = max(int(math.floor(minx)) - 1, 0), max(int(math.floor(miny)) - 1, 0)
        x1, y1 = min(int(math.ceil(maxx)) + 2, w), min(int(math.ceil(maxy)) + 2, h)
        if x1 <= x0 or y1 <= y0:
            return None
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for poly in _polys(geom):
            pts = np.asarray(poly.exterior.coords)[:, :2] - (x0, y0)
            cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        return x0, y0, mask

    def free(self, geom, forbid: int) -> bool:
        local = self._local(geom)
        if local is None:
            return False
        x0, y0, mask = local
        sub = self.grid[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        return not np.any((sub & forbid)[mask > 0])

    def mark(self, geom, bit: int) -> None:
        local = self._local(geom)
        if local is None:
            return
        x0, y0, mask = local
        sub = self.grid[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        sub[mask > 0] |= bit


def _pick(rng, class_type: int) -> str:
    names, weights = zip(*CLASS_MATERIALS[class_type], strict=True)
    w = np.asarray(weights, dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _tangent(line: LineString, d: float) -> float:
    a = line.interpolate(max(d - 1.0, 0.0))
    b = line.interpolate(min(d + 1.0, line.length))
    return math.atan2(b.y - a.y, b.x - a.x)


def build_scene(rng: np.random.Generator, height: int, width: int, present: set[int]) -> Scene:
    """Polygons (pixel coordinates) of one image holding the classes in ``present``."""
    scene = Scene(height, width)
    frame = box(0, 0, width, height)
    big = box(-40, -40, width + 40, height + 40)
    side = math.sqrt(height * width)
    area_factor = height * width / 384.0**2
    lin_factor = math.sqrt(area_factor)
    occ = _Occupancy(height, width)
    sun_angle = rng.uniform(0, 2 * np.pi)
    scene.sun = (math.cos(sun_angle), math.sin(sun_angle))

    # ---- crops: a rotated grid of parcels, some of them fields
    margins: list[LineString] = []
    if 6 in present:
        angle = rng.uniform(-0.5, 0.5) + (math.pi / 2 if rng.random() < 0.3 else 0.0)
        p_field = rng.uniform(0.35, 1.0)
        cx, cy, reach = width / 2, height / 2, 0.75 * math.hypot(width, height)
        us = [-reach]
        while us[-1] < reach:
            us.append(us[-1] + rng.uniform(0.18, 0.45) * side)
        vs = [-reach]
        while vs[-1] < reach:
            vs.append(vs[-1] + rng.uniform(0.14, 0.35) * side)
        n_fields = 0
        for u0, u1 in zip(us[:-1], us[1:], strict=True):
            for v0, v1 in zip(vs[:-1], vs[1:], strict=True):
                m = rng.uniform(1.5, 4.0)
                cell = _rect(0, 0, u1 - u0 - 2 * m, v1 - v0 - 2 * m, 0)
                cell = affinity.translate(cell, (u0 + u1) / 2, (v0 + v1) / 2)
                cell = affinity.rotate(cell, angle, origin=(0, 0), use_radians=True)
                cell = affinity.translate(cell, cx, cy)
                if not cell.intersects(frame):
                    continue
                edge = LineString(list(cell.exterior.coords)[:2]).intersection(frame)
                if not edge.is_empty and edge.length > 20:
                    margins.append(edge)
                if rng.random() > p_field and n_fields > 0:
                    continue
                clipped = cell.intersection(frame)
                if clipped.area < 30:
                    continue
                n_fields += 1
                material = _pick(rng, 6)
                row_angle = angle + (math.pi / 2 if rng.random() < 0.5 else 0.0)
                period = rng.uniform(3.0, 7.0)
                amp = {"crop_plough": 0.22, "crop_green": 0.12}.get(material, 0.08)
                for poly in _polys(clipped):
                    scene.add(6, poly, material)
                    scene.fields.append((poly, row_angle, period, amp))

    # ---- waterway: a meandering river across the image
    if 7 in present:
        x, y, heading = _edge_start(rng, height, width, margin=30)
        length = 1.6 * max(height, width)
        n = 120
        t = np.linspace(0, 1, n)
        wl = rng.uniform(0.25, 0.6) * side
        amp = rng.uniform(0.04, 0.12) * side
        lateral = amp * np.sin(2 * np.pi * t * length / wl + rng.uniform(0, 2 * np.pi))
        lateral += np.cumsum(rng.normal(0, 0.004 * side, n))
        px = x + t * length * math.cos(heading) - lateral * math.sin(heading)
        py = y + t * length * math.sin(heading) + lateral * math.cos(heading)
        width_px = max(5.0, rng.uniform(0.02, 0.055) * side)
        river = LineString(np.stack([px, py], 1)).buffer(width_px / 2, quad_segs=4)
        river = river.intersection(big)
        for poly in _polys(river):
            scene.add(7, poly, _pick(rng, 7))
        occ.mark(river.buffer(3, quad_segs=2), occ.WATER)

    # ---- standing water: compact ponds and the odd lake
    if 8 in present:
        n_ponds = int(rng.integers(1, 4))
        placed = 0
        for attempt in range(60):
            r = 3 + rng.uniform(0.01, 0.05) * side * (2.0 if rng.random() < 0.15 else 1.0)
            pond = _blob(
                rng,
                rng.uniform(r, width - r),
                rng.uniform(r, height - r),
                r,
                aspect=rng.uniform(0.6, 1.0),
                angle=rng.uniform(0, np.pi),
                rough=0.15,
            )
            if attempt < 50 and not occ.free(pond.buffer(4), occ.WATER):
                continue
            scene.add(8, pond, _pick(rng, 8))
            occ.mark(pond.buffer(3), occ.WATER)
            placed += 1
            if placed >= n_ponds:
                break

    # ---- roads: long gentle main roads, side streets
    road_lines: list[tuple[LineString, float]] = []
    if 3 in present:
        n_main = max(1, int(round(rng.uniform(0.7, 2.2) * lin_factor)))
        for _ in range(n_main):
            x, y, heading = _edge_start(rng, height, width, margin=15)
            n = int(2.2 * max(height, width) / 12) + 2
            pts = _walk(rng, x, y, heading, 12.0, n, 0.03, momentum=0.7)
            line = LineString(pts).intersection(big)
            if line.is_empty or line.length < 20:
                continue
            line = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
            road_lines.append((line, rng.uniform(7.0, 10.0)))
        n_side = int(rng.integers(1, 5) * lin_factor) if 1 in present else 0
        for _ in range(n_side):
            base, _w = road_lines[int(rng.integers(len(road_lines)))]
            d = rng.uniform(0.1, 0.9) * base.length
            p = base.interpolate(d)
            heading = _tangent(base, d) + (1 if rng.random() < 0.5 else -1) * (
                math.pi / 2 + rng.normal(0, 0.2)
            )
            n = int(rng.uniform(40, 160) / 8) + 1
            line = LineString(_walk(rng, p.x, p.y, heading, 8.0, n, 0.08)).intersection(big)
            if line.is_empty or line.length < 10:
                continue
            line = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
            road_lines.append((line, rng.uniform(5.0, 7.0)))
        for line, w in road_lines:
            road = line.buffer(w / 2, quad_segs=2, cap_style="flat").intersection(big)
            material = _pick(rng, 3)
            for poly in _polys(road):
                scene.add(3, poly, material)
            occ.mark(road.buffer(2, quad_segs=1), occ.ROAD)

    # ---- tracks: thin winding dirt paths, some along field margins
    if 4 in present:
        n_tracks = max(1, int(round(rng.uniform(1.0, 3.5) * lin_factor)))
        for i in range(n_tracks):
            w = rng.uniform(2.0, 4.0)
            if margins and i % 2 == 1:
                line = margins[int(rng.integers(len(margins)))]
                line = line.offset_curve(rng.uniform(-2, 2)) if rng.random() < 0.5 else line
            else:
                x, y, heading = _edge_start(rng, height, width, margin=10)
                n = int(rng.uniform(0.5, 1.6) * max(height, width) / 8) + 2
                line = LineString(_walk(rng, x, y, heading, 8.0, n, 0.12, momentum=0.5))
            track = line.buffer(w / 2, quad_segs=2).intersection(big)
            for poly in _polys(track):
                scene.add(4, poly, "track")
            occ.mark(track, occ.TRACK)

    # ---- buildings: along the roads, else clustered around a village centre
    houses: list[tuple[Polygon, float]] = []
    if 1 in present:
        target = rng.uniform(0.02, 0.13) * height * width
        area = 0.0
        vx, vy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
        max_attempts = int(400 * area_factor) + 200
        for attempt in range(max_attempts):
            if area >= target:
                break
            kind = rng.random()
            a, b = rng.uniform(8, 28), rng.uniform(7, 18)
            if kind > 0.95:
                a, b = rng.uniform(35, 70), rng.uniform(22, 40)
            if road_lines and rng.random() < 0.85:
                line, rw = road_lines[int(rng.integers(len(road_lines)))]
                d = rng.uniform(0, line.length)
                p = line.interpolate(d)
                ang = _tangent(line, d) + rng.normal(0, 0.04)
                off = (rw / 2 + 3 + b / 2 + rng.uniform(0, 10)) * (1 if rng.random() < 0.5 else -1)
                cx, cy = p.x - off * math.sin(ang), p.y + off * math.cos(ang)
            else:
                cx = rng.normal(vx, 0.12 * width)
                cy = rng.normal(vy, 0.12 * height)
                ang = rng.uniform(0, np.pi)
            if kind < 0.62 or kind > 0.95:
                poly = _rect(cx, cy, a, b, ang)
                if rng.random() < 0.6:  # a gabled roof: one half a little darker
                    hx, hy = _transform(np.array([[0.0, b / 4]]), cx, cy, ang)[0]
                    scene.roof_halves.append(_rect(hx, hy, a, b / 2, ang))
            elif kind < 0.85:
                poly = _l_shape(cx, cy, a, b, a * rng.uniform(0.3, 0.6), rng.uniform(5, 14), ang)
            else:
                a, b = rng.uniform(24, 44), rng.uniform(22, 36)
                poly = _courtyard(cx, cy, a, b, rng.uniform(5, 9), ang)
            if not frame.contains(poly.centroid):
                continue
            if not occ.free(poly.buffer(2.5, quad_segs=1), occ.ROAD | occ.BUILDING | occ.WATER):
                if attempt < max_attempts - 1 or houses:
                    continue
            poly = poly.intersection(frame)
            if poly.is_empty:
                continue
            for part in _polys(poly):
                scene.add(1, part, _pick(rng, 1))
            occ.mark(poly.buffer(2.0, quad_segs=1), occ.BUILDING)
            houses.append((poly, ang))
            area += poly.area

    # ---- misc structures: sheds, fences and walls, isolated small objects
    if 2 in present:
        n_sheds = int(len(houses) * rng.uniform(0.3, 0.8))
        n_fences = int(len(houses) * rng.uniform(0.1, 0.4))
        n_isolated = int(rng.integers(1, 5) * area_factor) + (0 if houses else 2)
        blockers = occ_geoms_buffer(scene, (1, 3), 1.0) if n_fences else None
        made = 0
        for _ in range(n_sheds * 3):
            if made >= n_sheds or not houses:
                break
            house, ang = houses[int(rng.integers(len(houses)))]
            c = house.centroid
            r = math.sqrt(house.area) * 0.7 + rng.uniform(4, 10)
            t = rng.uniform(0, 2 * np.pi)
            shed = _rect(
                c.x + r * math.cos(t), c.y + r * math.sin(t), rng.uniform(3, 7), rng.uniform(3, 6), ang
            )
            if not occ.free(shed.buffer(1.0, quad_segs=1), occ.ROAD | occ.BUILDING | occ.WATER):
                continue
            shed = shed.intersection(frame)
            for part in _polys(shed):
                scene.add(2, part, _pick(rng, 2))
            occ.mark(shed.buffer(1.0, quad_segs=1), occ.BUILDING)
            made += 1
        for _ in range(n_fences):
            house, ang = houses[int(rng.integers(len(houses)))]
            plot = house.minimum_rotated_rectangle.buffer(
                rng.uniform(4, 9), join_style="mitre", mitre_limit=3
            )
            ring = list(plot.exterior.coords)
            k = int(rng.integers(len(ring) - 1))
            n_sides = int(rng.integers(1, 4))
            line = LineString(ring[k : k + n_sides + 1] if k + n_sides < len(ring) else ring[k:])
            if line.length < 5:
                continue
            fence = line.buffer(rng.uniform(0.7, 1.1), cap_style="flat", join_style="mitre")
            fence = fence.difference(blockers).intersection(frame)
            for part in _polys(fence):
                if part.area > 2:
                    scene.add(2, part, _pick(rng, 2))
        for _ in range(n_isolated):
            cx, cy = rng.uniform(5, width - 5), rng.uniform(5, height - 5)
            if rng.random() < 0.5:
                obj = Point(cx, cy).buffer(rng.uniform(2, 4), quad_segs=3)
            else:
                obj = _rect(cx, cy, rng.uniform(4, 9), rng.uniform(3, 6), rng.uniform(0, np.pi))
            if not occ.free(obj.buffer(1.0), occ.ROAD | occ.BUILDING | occ.WATER):
                continue
            scene.add(2, obj, _pick(rng, 2))
            occ.mark(obj.buffer(1.0), occ.BUILDING)
        if margins and not houses:
            line = margins[int(rng.integers(len(margins)))]
            wall = line.buffer(0.9, cap_style="flat").intersection(frame)
            for part in _polys(wall):
                scene.add(2, part, _pick(rng, 2))

    # ---- trees: woodland, clumps, hedgerows
    if 5 in present:
        forbid = occ.ROAD | occ.BUILDING | occ.WATER
        trees: list = []
        material = _pick(rng, 5)
        n_wood = int(rng.choice([0, 0, 1, 1, 2]))
        for _ in range(n_wood):
            r = rng.uniform(0.08, 0.2) * side
            wood = _blob(
                rng,
                rng.uniform(0, width),
                rng.uniform(0, height),
                r,
                aspect=rng.uniform(0.5, 1.0),
                angle=rng.uniform(0, np.pi),
                rough=0.2,
            )
            holes = [
                Point(rng.uniform(*wood.bounds[0::2]), rng.uniform(*wood.bounds[1::2])).buffer(
                    rng.uniform(3, 8), quad_segs=3
                )
                for _ in range(int(rng.integers(0, 4)))
            ]
            if holes:
                wood = wood.difference(shapely.union_all(holes))
            trees.append(wood)
        n_clumps = max(1, int(rng.uniform(3, 14) * area_factor))
        for _ in range(n_clumps):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            k = int(rng.integers(2, 22))
            spread = rng.uniform(3, 12)
            xs, ys = rng.normal(cx, spread, k), rng.normal(cy, spread, k)
            rs = rng.uniform(2.5, 6.5, k)
            for x, y, r in zip(xs, ys, rs, strict=True):
                if 0 <= x < width and 0 <= y < height and occ.grid[int(y), int(x)] & forbid:
                    continue
                trees.append(Point(x, y).buffer(r, quad_segs=3))
        if margins:
            n_hedges = int(rng.integers(0, min(len(margins), 6) + 1))
            for j in rng.permutation(len(margins))[:n_hedges]:
                line = margins[int(j)]
                trees.append(line.buffer(rng.uniform(1.5, 2.5), quad_segs=2))
                d = np.arange(0, line.length, rng.uniform(4, 9))
                for di in d:
                    p = line.interpolate(di)
                    trees.append(
                        Point(p.x + rng.normal(0, 1), p.y + rng.normal(0, 1)).buffer(
                            rng.uniform(2, 4), quad_segs=2
                        )
                    )
        if trees:
            canopy = shapely.union_all(trees).intersection(frame)
            for poly in _polys(canopy):
                scene.add(5, poly, material if rng.random() < 0.8 else _pick(rng, 5))

    # ---- vehicles: on the roads (along the lanes) and parked beside houses
    for cls, dims, count in ((9, (6.0, 3.0), (1, 5)), (10, (3.0, 2.0), (4, 26))):
        if cls not in present or not road_lines:
            continue
        n_veh = max(1, int(rng.integers(*count) * area_factor))
        placed = 0
        for attempt in range(n_veh * 6):
            if placed >= n_veh:
                break
            length = dims[0] * rng.uniform(0.9, 1.25)
            wid = dims[1] * rng.uniform(0.85, 1.15)
            if cls == 10 and houses and rng.random() < 0.35:
                house, ang = houses[int(rng.integers(len(houses)))]
                c = house.centroid
                r = math.sqrt(house.area) * 0.6 + rng.uniform(3, 6)
                t = rng.uniform(0, 2 * np.pi)
                cx, cy = c.x + r * math.cos(t), c.y + r * math.sin(t)
                ang += rng.choice([0.0, math.pi / 2])
            else:
                line, rw = road_lines[int(rng.integers(len(road_lines)))]
                d = rng.uniform(0, line.length)
                p = line.interpolate(d)
                ang = _tangent(line, d)
                off = rng.uniform(-1, 1) * max(rw / 2 - wid / 2 - 0.5, 0.0)
                cx, cy = p.x - off * math.sin(ang), p.y + off * math.cos(ang)
            veh = _rect(cx, cy, length, wid, ang)
            if not frame.contains(veh):
                continue
            forbid = occ.VEHICLE | occ.BUILDING | occ.WATER
            if attempt < n_veh * 6 - 1 or placed:
                if not occ.free(veh.buffer(0.8, quad_segs=1), forbid):
                    continue
            scene.add(cls, veh, _pick(rng, cls))
            occ.mark(veh.buffer(0.8, quad_segs=1), occ.VEHICLE)
            placed += 1
    return scene


def occ_geoms_buffer(scene: Scene, classes: tuple[int, ...], distance: float):
    """Union of the scene's polygons of some classes, grown by ``distance``."""
    polys = [p for c in classes for p, _ in scene.objects.get(c, [])]
    if not polys:
        return Polygon()
    return shapely.union_all(polys).buffer(distance, quad_segs=1)


def scene_labels(scene: Scene) -> dict[int, MultiPolygon]:
    """ClassType -> MultiPolygon (pixel coordinates): exclusive in PRIORITY order."""
    frame = box(0, 0, scene.width, scene.height)
    labels: dict[int, MultiPolygon] = {}
    above = None
    for cls in PRIORITY:
        polys = [p for p, _ in scene.objects.get(cls, [])]
        geom = shapely.union_all(polys).intersection(frame) if polys else Polygon()
        own = geom
        if above is not None and not geom.is_empty:
            geom = geom.difference(above)
        labels[cls] = _clean(geom)
        if not own.is_empty:
            above = own if above is None else shapely.union_all([above, own])
    for cls in OVERLAYS:
        polys = [p for p, _ in scene.objects.get(cls, [])]
        geom = shapely.union_all(polys).intersection(frame) if polys else Polygon()
        labels[cls] = _clean(geom)
    return {k: labels[k] for k in CLASS_TYPES}


# ------------------------------------------------------------------- rendering


def _smooth_noise(rng, height, width, sigma, down=1) -> np.ndarray:
    """Gaussian-blurred white noise (std 1), made at 1/down resolution and upsampled."""
    h, w = max(2, -(-height // down)), max(2, -(-width // down))
    noise = rng.standard_normal((h, w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma / down, borderType=cv2.BORDER_REFLECT_101)
    if down > 1:
        noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    noise -= noise.mean()
    noise /= noise.std() + 1e-9
    return noise


def _fill(img: np.ndarray, geom, value) -> None:
    """cv2.fillPoly of every exterior ring of ``geom`` (holes ignored), sub-pixel."""
    for poly in _polys(geom):
        pts = np.round(np.asarray(poly.exterior.coords)[:, :2] * 16).astype(np.int32)
        cv2.fillPoly(img, [pts], value, cv2.LINE_8, 4)


def _material_table() -> tuple[np.ndarray, dict[str, int]]:
    return np.array([MATERIALS[n] for n in MATERIAL_NAMES], np.float32), {
        n: i for i, n in enumerate(MATERIAL_NAMES)
    }


def render_scene(
    rng: np.random.Generator,
    scene: Scene,
    labels_px: dict[int, MultiPolygon],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(material index map uint8, brightness float32, class map uint8) at RGB size.

    The class of each pixel comes from ``labels_px`` (exact rasterisation); the
    material within a class from the objects' materials (approximate fill).
    """
    height, width = scene.height, scene.width
    _, index = _material_table()
    classmap = np.zeros((height, width), np.uint8)
    for cls in reversed(PRIORITY):
        geom = labels_px.get(cls)
        if geom is not None and not geom.is_empty:
            classmap[rasterize(geom, (height, width)) > 0] = cls
    for cls in OVERLAYS:
        geom = labels_px.get(cls)
        if geom is not None and not geom.is_empty:
            classmap[rasterize(geom, (height, width)) > 0] = cls

    # Materials: background by smooth noise, objects by their own material.
    material = np.full((height, width), index["grass"], np.uint8)
    bg = _smooth_noise(rng, height, width, sigma=0.04 * math.sqrt(height * width), down=8)
    q_dry, q_soil = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
    lo, hi = np.quantile(bg[:: max(1, height // 64), :: max(1, width // 64)], [q_dry, 1 - q_soil])
    material[bg < lo] = index["dry_grass"]
    material[bg > hi] = index["soil"]
    for cls in (6, 8, 7, 5, 4, 3, 2, 1, 9, 10):
        for poly, name in scene.objects.get(cls, []):
            _fill(material, poly, int(index[name]))
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

    # Brightness: low-frequency illumination, class texture, crop rows, roofs, shadows.
    side = math.sqrt(height * width)
    bright = 1.0 + 0.06 * _smooth_noise(rng, height, width, sigma=0.08 * side, down=16)
    texture = np.asarray(TEXTURE, np.float32)[classmap]
    bright += texture * _smooth_noise(rng, height, width, sigma=1.0)
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
        _fill(local, affinity.translate(poly, -x0, -y0), 1)
        sel = sub_cls & (local > 0)
        bright[y0:y1, x0:x1][sel] *= stripes[sel]
    shade = np.ones((height, width), np.float32)
    for half in scene.roof_halves:
        _fill(shade, half, 0.82)
    shade[classmap != 1] = 1.0
    # Shadows: buildings and trees cast them away from the sun; they fall on the
    # ground, never on the casting classes.
    shadow = np.zeros((height, width), np.uint8)
    ux, uy = scene.sun
    for cls, length in ((1, rng.uniform(2.5, 5.0)), (2, 1.5), (5, rng.uniform(2.0, 4.0))):
        geom = labels_px.get(cls)
        if geom is None or geom.is_empty:
            continue
        _fill(shadow, affinity.translate(geom, ux * length, uy * length), 1)
    shadow[(classmap == 1) | (classmap == 2) | (classmap == 5)] = 0
    shade[shadow > 0] *= rng.uniform(0.4, 0.5)
    bright *= shade
    np.clip(bright, 0.05, 3.0, out=bright)
    return material, bright.astype(np.float32), classmap


def _to_dn(plane: np.ndarray, band: str, channel, gain_scale, offset_scale, rng, noise=True):
    gain, offset = CALIBRATION[band]
    g = float(np.atleast_1d(gain)[channel]) * gain_scale
    o = float(np.atleast_1d(offset)[channel]) * offset_scale
    out = plane * np.float32(g) + np.float32(o)
    if noise:
        sd = 0.08 * float(np.atleast_1d(np.asarray(REAL_STD[band]))[channel])
        out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(sd)
    np.clip(np.rint(out), 0, MAX_VALUE[band], out=out)
    return out.astype(np.uint16)


def render_bands(rng, material, bright, offsets, shapes) -> dict[str, np.ndarray]:
    """RGB (3,H,W), P (H,W), M (8,h,w), A (8,h,w) uint16 from the full-resolution scene."""
    table, _ = _material_table()
    # Per-image spectral variation of every material (a few percent).
    table = table * (1 + 0.04 * rng.standard_normal((len(table), 1))) * (
        1 + 0.02 * rng.standard_normal(table.shape)
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
        rgb.append(_to_dn(p, "RGB", c, gain_scale, offset_scale, rng))
    out["RGB"] = np.stack(rgb)
    p = plane(table[:, :8] @ P_WEIGHTS.astype(np.float32))
    p = displace(p, offsets["P"][0], offsets["P"][1], shapes["P"])
    out["P"] = _to_dn(p, "P", 0, gain_scale, offset_scale, rng)
    for band, first in (("M", 0), ("A", 8)):
        planes = []
        for c in range(8):
            p = displace(plane(table[:, first + c]), *offsets[band], shapes[band])
            p = cv2.GaussianBlur(p, (0, 0), 0.5, borderType=cv2.BORDER_REFLECT_101)
            planes.append(_to_dn(p, band, c, gain_scale, offset_scale, rng))
        out[band] = np.stack(planes)
    return out


# ---------------------------------------------------------------- per image


def presence_plan(n_images: int, n_train: int, seed: int) -> list[set[int]]:
    """Classes drawn in each image. Every class appears in at least one image of
    each half of the training ids (so in at least two training images when
    n_train >= 2), and so in any validation split that keeps one image of each half."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    plans: list[set[int]] = []
    for _ in range(n_images):
        p: set[int] = set()
        village = rng.random() < 0.45
        if rng.random() < 0.95:
            p.add(5)
        if rng.random() < 0.85:
            p.add(4)
        if rng.random() < 0.55:
            p.add(6)
        if village:
            p |= {1, 3}
            for cls, prob in ((2, 0.9), (10, 0.75), (9, 0.45)):
                if rng.random() < prob:
                    p.add(cls)
        else:
            for cls, prob in ((2, 0.25), (3, 0.15)):
                if rng.random() < prob:
                    p.add(cls)
        if rng.random() < 0.25:
            p.add(7)
        if rng.random() < 0.4:
            p.add(8)
        plans.append(p)
    first = (n_train + 1) // 2
    halves = [range(0, first), range(first, n_train)]
    for half in halves:
        if len(half) == 0:
            continue
        for cls in CLASS_TYPES:
            if any(cls in plans[i] for i in half):
                continue
            i = half[int(rng.integers(len(half)))]
            plans[i].add(cls)
            if cls in (9, 10):
                plans[i].add(3)
    return plans


@dataclass
class SynthImage:
    image_id: str
    height: int
    width: int
    xmax: float
    ymin: float
    bands: dict[str, np.ndarray]
    wkt: dict[int, str]
    offsets: dict[str, dict[str, float]]
    fractions: dict[int, float]


def make_image(seed: int, index: int, image_id: str, size: tuple[int, int], present: set[int]):
    """Render one image: its bands, its WKT (grid coordinates) and its truth."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    height, width = int(size[0]), int(size[1])
    if index > 0:  # slightly different sizes, as in the real data
        height += int(rng.integers(0, 3))
        width += int(rng.integers(0, 4))
    xmax = round(0.00918 + rng.uniform(-0.00012, 0.00006), 6)
    ymin = -round(0.00904 + rng.uniform(-0.00010, 0.00006), 6)

    shapes = {b: band_shape(height, width, b) for b in BAND_FACTORS}
    offsets = {}
    for band in BAND_FACTORS:
        h, w = shapes[band]
        offsets[band] = (
            _draw_offset(rng, band, width, w),
            _draw_offset(rng, band, height, h),
        )

    wanted = set(present)
    for _attempt in range(6):
        scene = build_scene(rng, height, width, present)
        labels = scene_labels(scene)
        if all(not labels[c].is_empty for c in wanted):
            break
        missing = sorted(c for c in wanted if labels[c].is_empty)
        log.debug("%s: classes %s came out empty, drawing the scene again", image_id, missing)

    # Labels go through the grid WKT and back, so that imagery matches the CSV exactly.
    wkt: dict[int, str] = {}
    round_trip: dict[int, MultiPolygon] = {}
    for cls in CLASS_TYPES:
        geom = labels[cls]
        if geom.is_empty:
            wkt[cls] = EMPTY_WKT
            round_trip[cls] = MultiPolygon()
            continue
        grid = pixels_to_grid(geom, width, height, xmax, ymin)
        text = shapely.to_wkt(grid, rounding_precision=8, trim=False)
        wkt[cls] = text
        parsed = parse_wkt(text, f"synthetic {image_id} class {cls}")
        round_trip[cls] = grid_to_pixels(parsed, width, height, xmax, ymin)

    material, bright, classmap = render_scene(rng, scene, round_trip)
    bands = render_bands(rng, material, bright, offsets, shapes)
    counts = np.bincount(classmap.ravel(), minlength=11)
    fractions = {c: float(counts[c]) / classmap.size for c in CLASS_TYPES}
    # Vehicles sit on roads: the road's label continues under them.
    if not round_trip[3].is_empty:
        fractions[3] = float(rasterize(round_trip[3], (height, width)).mean())
    return SynthImage(
        image_id=image_id,
        height=height,
        width=width,
        xmax=xmax,
        ymin=ymin,
        bands=bands,
        wkt=wkt,
        offsets={b: {"dx": round(dx, 9), "dy": round(dy, 9)} for b, (dx, dy) in offsets.items()},
        fractions=fractions,
    )


# -------------------------------------------------------------------- output


@contextlib.contextmanager
def _atomic_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary sibling directory, renamed onto ``out_dir`` when the block succeeds."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DstlError(f"{out_dir}: exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old)  # onto an empty directory: allowed
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_tiff(path: Path, arr: np.ndarray) -> None:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"planarconfig": "separate"} if arr.ndim == 3 else {}
    tifffile.imwrite(path, arr, photometric="minisblack", **kwargs)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(
    out_dir: str | os.PathLike,
    n_images: int = DEFAULT_IMAGES,
    n_train: int = DEFAULT_TRAIN,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
) -> dict:
    """Write the dataset to ``out_dir`` (atomically) and return the truth dict."""
    opts = SynthOptions(int(n_images), int(n_train), (int(size[0]), int(size[1])), int(seed))
    opts.validate()
    train, test = synthetic_ids(opts.n_images, opts.n_train)
    ids = train + test
    plans = presence_plan(opts.n_images, opts.n_train, opts.seed)
    truth: dict = {
        "seed": opts.seed,
        "size": list(opts.size),
        "train_ids": train,
        "test_ids": test,
        "offsets": {},
        "shapes": {},
        "class_fractions": {},
    }
    grid_rows, wkt_rows, test_wkt_rows = [], [], []
    with _atomic_dir(Path(out_dir)) as tmp:
        layout = Layout(tmp)
        for index, image_id in enumerate(ids):
            img = make_image(opts.seed, index, image_id, opts.size, plans[index])
            _write_tiff(layout.three_band(image_id), img.bands["RGB"])
            for band in ("P", "M", "A"):
                _write_tiff(layout.sixteen_band(image_id, band), img.bands[band])
            grid_rows.append([image_id, f"{img.xmax:.6f}", f"{img.ymin:.6f}"])
            rows = [[image_id, cls, img.wkt[cls]] for cls in CLASS_TYPES]
            (wkt_rows if index < opts.n_train else test_wkt_rows).extend(rows)
            truth["offsets"][image_id] = img.offsets
            truth["shapes"][image_id] = {
                "RGB": [img.height, img.width],
                **{b: list(img.bands[b].shape[-2:]) for b in ("P", "M", "A")},
            }
            truth["class_fractions"][image_id] = {
                str(c): round(f, 6) for c, f in img.fractions.items()
            }
            log.info(
                "%s (%s): %d x %d, classes %s",
                image_id,
                "train" if index < opts.n_train else "test",
                img.height,
                img.width,
                ",".join(str(c) for c in CLASS_TYPES if img.wkt[c] != EMPTY_WKT),
            )
        _write_csv(layout.grid_sizes, ["", "Xmax", "Ymin"], grid_rows)
        header = ["ImageId", "ClassType", "MultipolygonWKT"]
        _write_csv(layout.train_wkt, header, wkt_rows)
        _write_csv(
            layout.sample_submission,
            header,
            [[i, c, EMPTY_WKT] for i in test for c in CLASS_TYPES],
        )
        # The test images' true polygons, for scoring a submission on synthetic data.
        _write_csv(tmp / "synth_test_wkt.csv", header, test_wkt_rows)
        (tmp / "synth_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth
