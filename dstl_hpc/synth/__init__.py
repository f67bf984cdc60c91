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

Sizes: small objects are measured in "units" of ``object_unit`` pixels (1 up to
1000 px images, so the default 384 px images get ~6 x 3 px lorries and ~3 x 2 px
cars; a real-size 3348 x 3392 image gets a unit of ~3.4 px, close to the real
0.3 m pixels). Fields, woodland, rivers and lakes scale with the image. Band sizes
are RGB size / 4 (M) and / 25 (A), rounded, as 3348 x 3392 -> 837 x 848 and 134 x 136.

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

from dstl_hpc.atomic import remove_stale
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
TRUTH_FILE = "synth_truth.json"
TEST_WKT_FILE = "synth_test_wkt.csv"  # the test images' true polygons (not in the DSTL layout)

# Exclusive classes from top (wins) to bottom; vehicles (9, 10) lie on top of all.
PRIORITY = (1, 2, 3, 4, 7, 8, 5, 6)
OVERLAYS = (9, 10)

# ----------------------------------------------------------------------- spectra

# Reflectance in M1..M8 (coastal, blue, green, yellow, red, red edge, NIR1, NIR2)
# then A1..A8 (SWIR 1.2 .. 2.3 um).
# fmt: off
MATERIALS: dict[str, tuple[float, ...]] = {
    #                M1     M2     M3     M4     M5     M6     M7     M8
    #                A1     A2     A3     A4     A5     A6     A7     A8
    "grass":        (0.050, 0.050, 0.090, 0.080, 0.060, 0.200, 0.420, 0.440,
                     0.340, 0.280, 0.260, 0.240, 0.140, 0.130, 0.120, 0.110),
    "dry_grass":    (0.070, 0.080, 0.120, 0.130, 0.130, 0.200, 0.300, 0.310,
                     0.360, 0.360, 0.350, 0.330, 0.250, 0.240, 0.230, 0.220),
    "soil":         (0.080, 0.100, 0.140, 0.170, 0.200, 0.230, 0.260, 0.280,
                     0.320, 0.360, 0.370, 0.360, 0.310, 0.300, 0.290, 0.280),
    "track":        (0.090, 0.110, 0.150, 0.180, 0.210, 0.240, 0.270, 0.290,
                     0.330, 0.370, 0.380, 0.370, 0.320, 0.310, 0.300, 0.290),
    "asphalt":      (0.080, 0.080, 0.090, 0.090, 0.100, 0.100, 0.110, 0.110,
                     0.120, 0.130, 0.130, 0.130, 0.120, 0.120, 0.120, 0.120),
    "concrete":     (0.160, 0.180, 0.200, 0.210, 0.220, 0.230, 0.240, 0.250,
                     0.270, 0.290, 0.290, 0.290, 0.260, 0.260, 0.250, 0.250),
    "roof_red":     (0.060, 0.060, 0.070, 0.120, 0.220, 0.240, 0.270, 0.280,
                     0.310, 0.330, 0.330, 0.320, 0.280, 0.270, 0.260, 0.260),
    "roof_grey":    (0.140, 0.160, 0.180, 0.190, 0.200, 0.210, 0.220, 0.230,
                     0.250, 0.270, 0.270, 0.270, 0.240, 0.240, 0.230, 0.230),
    "roof_metal":   (0.300, 0.320, 0.330, 0.330, 0.330, 0.330, 0.330, 0.330,
                     0.310, 0.300, 0.300, 0.300, 0.280, 0.280, 0.270, 0.270),
    "roof_dark":    (0.050, 0.050, 0.060, 0.060, 0.060, 0.070, 0.080, 0.080,
                     0.090, 0.100, 0.100, 0.100, 0.090, 0.090, 0.090, 0.090),
    "wood":         (0.070, 0.080, 0.100, 0.120, 0.140, 0.160, 0.180, 0.190,
                     0.240, 0.270, 0.270, 0.260, 0.220, 0.210, 0.210, 0.200),
    "trees":        (0.030, 0.030, 0.060, 0.050, 0.040, 0.150, 0.360, 0.380,
                     0.240, 0.170, 0.150, 0.140, 0.070, 0.070, 0.060, 0.060),
    "trees_light":  (0.040, 0.040, 0.080, 0.060, 0.050, 0.180, 0.400, 0.420,
                     0.280, 0.200, 0.180, 0.170, 0.090, 0.090, 0.080, 0.080),
    "crop_green":   (0.040, 0.040, 0.090, 0.070, 0.050, 0.220, 0.480, 0.500,
                     0.360, 0.280, 0.260, 0.240, 0.130, 0.120, 0.110, 0.100),
    "crop_ripe":    (0.070, 0.080, 0.130, 0.150, 0.160, 0.220, 0.310, 0.320,
                     0.370, 0.380, 0.370, 0.350, 0.270, 0.260, 0.250, 0.240),
    "crop_plough":  (0.080, 0.090, 0.130, 0.160, 0.190, 0.220, 0.250, 0.270,
                     0.310, 0.350, 0.360, 0.350, 0.300, 0.290, 0.280, 0.270),
    "water":        (0.070, 0.080, 0.080, 0.060, 0.040, 0.030, 0.020, 0.015,
                     0.010, 0.008, 0.008, 0.008, 0.005, 0.005, 0.005, 0.005),
    "water_turbid": (0.080, 0.090, 0.110, 0.090, 0.070, 0.050, 0.040, 0.030,
                     0.020, 0.012, 0.011, 0.010, 0.008, 0.008, 0.008, 0.008),
    "veh_white":    (0.400, 0.420, 0.430, 0.430, 0.430, 0.420, 0.410, 0.400,
                     0.350, 0.330, 0.320, 0.310, 0.280, 0.280, 0.270, 0.270),
    "veh_black":    (0.050, 0.050, 0.050, 0.050, 0.050, 0.050, 0.060, 0.060,
                     0.060, 0.060, 0.060, 0.060, 0.060, 0.060, 0.060, 0.060),
    "veh_red":      (0.060, 0.050, 0.050, 0.100, 0.300, 0.320, 0.330, 0.330,
                     0.300, 0.280, 0.280, 0.270, 0.240, 0.240, 0.230, 0.230),
    "veh_blue":     (0.120, 0.160, 0.100, 0.070, 0.050, 0.060, 0.080, 0.080,
                     0.080, 0.080, 0.080, 0.080, 0.070, 0.070, 0.070, 0.070),
    "veh_silver":   (0.250, 0.260, 0.270, 0.270, 0.270, 0.270, 0.270, 0.270,
                     0.240, 0.230, 0.230, 0.220, 0.200, 0.200, 0.190, 0.190),
    "veh_green":    (0.050, 0.050, 0.090, 0.080, 0.070, 0.100, 0.140, 0.150,
                     0.140, 0.130, 0.120, 0.120, 0.100, 0.100, 0.090, 0.090),
    "veh_yellow":   (0.080, 0.090, 0.280, 0.330, 0.350, 0.360, 0.360, 0.360,
                     0.320, 0.300, 0.300, 0.290, 0.260, 0.260, 0.250, 0.250),
}
# fmt: on
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
    unit: float = 1.0  # pixels per small-object unit (see object_unit)

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


def object_unit(height: int, width: int) -> float:
    """Pixels per "unit" of small objects: 1 up to 1000 px images, then growing with size.

    Small images (the defaults) keep objects small (vehicles ~6 x 3 and 3 x 2 px) so
    that they hold many; a real-size image (3348 x 3392) gets objects about 3.4 times
    larger, close to the real data's (0.3 m pixels), and proportionally fewer of them.
    """
    return max(1.0, math.sqrt(height * width) / 1000.0)


def build_scene(rng: np.random.Generator, height: int, width: int, present: set[int]) -> Scene:
    """Polygons (pixel coordinates) of one image holding the classes in ``present``."""
    scene = Scene(height, width)
    frame = box(0, 0, width, height)
    big = box(-40, -40, width + 40, height + 40)
    side = math.sqrt(height * width)
    u = object_unit(height, width)
    # How many small objects (per area) and linear features (per side) to draw.
    n_area = height * width / (384.0 * u) ** 2
    n_lin = side / (384.0 * u)
    occ = _Occupancy(height, width)
    sun_angle = rng.uniform(0, 2 * np.pi)
    scene.sun = (math.cos(sun_angle), math.sin(sun_angle))
    scene.unit = u

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
                m = rng.uniform(1.5, 4.0) * u
                cell = _rect(0, 0, u1 - u0 - 2 * m, v1 - v0 - 2 * m, 0)
                cell = affinity.translate(cell, (u0 + u1) / 2, (v0 + v1) / 2)
                cell = affinity.rotate(cell, angle, origin=(0, 0), use_radians=True)
                cell = affinity.translate(cell, cx, cy)
                if not cell.intersects(frame):
                    continue
                edge = LineString(list(cell.exterior.coords)[:2]).intersection(frame)
                if not edge.is_empty and edge.length > 20 * u:
                    margins.append(edge)
                if rng.random() > p_field and n_fields > 0:
                    continue
                clipped = cell.intersection(frame)
                if clipped.area < 30 * u * u:
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
        n = 160
        t = np.linspace(0, 1, n)
        # Meanders: two incommensurate waves with a drifting amplitude, plus a random walk.
        wl = rng.uniform(0.25, 0.6) * side
        drift = 0.6 + 0.8 * np.abs(np.cumsum(rng.normal(0, 0.2, n)))
        amp = (
            rng.uniform(0.04, 0.12)
            * side
            * np.convolve(np.pad(drift, 5, mode="edge"), np.ones(11) / 11, "valid")
        )
        lateral = amp * np.sin(2 * np.pi * t * length / wl + rng.uniform(0, 2 * np.pi))
        lateral += 0.4 * amp * np.sin(2 * np.pi * t * length / (0.43 * wl) + rng.uniform(0, 6.3))
        lateral += np.cumsum(rng.normal(0, 0.006 * side, n))
        px = x + t * length * math.cos(heading) - lateral * math.sin(heading)
        py = y + t * length * math.sin(heading) + lateral * math.cos(heading)
        width_px = max(5.0, rng.uniform(0.02, 0.055) * side)
        river = LineString(np.stack([px, py], 1)).buffer(width_px / 2, quad_segs=4)
        river = river.intersection(big)
        material = _pick(rng, 7)
        for poly in _polys(river):
            scene.add(7, poly, material)
        occ.mark(river.buffer(3 * u, quad_segs=2), occ.WATER)

    # ---- standing water: compact ponds and the odd lake
    if 8 in present:
        n_ponds = int(rng.integers(1, 4))
        placed = 0
        for attempt in range(60):
            r = 3 * u + rng.uniform(0.01, 0.05) * side * (2.0 if rng.random() < 0.15 else 1.0)
            pond = _blob(
                rng,
                rng.uniform(r, width - r),
                rng.uniform(r, height - r),
                r,
                aspect=rng.uniform(0.6, 1.0),
                angle=rng.uniform(0, np.pi),
                rough=0.15,
            )
            if attempt < 50 and not occ.free(pond.buffer(4 * u, quad_segs=2), occ.WATER):
                continue
            scene.add(8, pond, _pick(rng, 8))
            occ.mark(pond.buffer(3 * u, quad_segs=2), occ.WATER)
            placed += 1
            if placed >= n_ponds:
                break

    # ---- roads: long gentle main roads, side streets
    road_lines: list[tuple[LineString, float]] = []
    if 3 in present:
        n_main = max(1, int(round(rng.uniform(0.7, 2.2) * n_lin)))
        for _attempt in range(n_main + 6):
            if len(road_lines) >= n_main:
                break
            x, y, heading = _edge_start(rng, height, width, margin=15)
            step = 12.0 * u
            n = int(2.2 * max(height, width) / step) + 2
            pts = _walk(rng, x, y, heading, step, n, 0.03, momentum=0.7)
            line = LineString(pts).intersection(frame.buffer(15 * u))
            if line.is_empty or line.length < 0.2 * side:
                continue
            line = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
            road_lines.append((line, rng.uniform(7.0, 10.0) * u))
        n_side = int(rng.integers(1, 5) * n_lin) if (1 in present and road_lines) else 0
        for _ in range(n_side):
            base, _w = road_lines[int(rng.integers(len(road_lines)))]
            d = rng.uniform(0.1, 0.9) * base.length
            p = base.interpolate(d)
            heading = _tangent(base, d) + (1 if rng.random() < 0.5 else -1) * (
                math.pi / 2 + rng.normal(0, 0.2)
            )
            n = int(rng.uniform(40, 160) / 8) + 1
            walk = _walk(rng, p.x, p.y, heading, 8.0 * u, n, 0.08)
            line = LineString(walk).intersection(big)
            if line.is_empty or line.length < 10 * u:
                continue
            line = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
            road_lines.append((line, rng.uniform(5.0, 7.0) * u))
        for line, w in road_lines:
            road = line.buffer(w / 2, quad_segs=2, cap_style="flat").intersection(big)
            material = _pick(rng, 3)
            for poly in _polys(road):
                scene.add(3, poly, material)
            occ.mark(road.buffer(2 * u, quad_segs=1), occ.ROAD)

    # ---- tracks: thin winding dirt paths, some along field margins
    if 4 in present:
        n_tracks = max(1, int(round(rng.uniform(1.0, 3.5) * n_lin)))
        for i in range(n_tracks):
            w = rng.uniform(2.0, 4.0) * u
            if margins and i % 2 == 1:
                line = margins[int(rng.integers(len(margins)))]
                if rng.random() < 0.5:
                    line = line.offset_curve(rng.uniform(-2, 2) * u)
            else:  # from an edge, winding; retried until a good part lies in the image
                for _ in range(8):
                    x, y, heading = _edge_start(rng, height, width, margin=10)
                    step = 8.0 * u
                    n = int(rng.uniform(0.6, 1.6) * max(height, width) / step) + 2
                    line = LineString(_walk(rng, x, y, heading, step, n, 0.1, momentum=0.5))
                    if line.intersection(frame).length > 0.4 * side:
                        break
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
        max_attempts = int(300 * n_area) + 200
        forbid = occ.ROAD | occ.BUILDING | occ.WATER
        for attempt in range(max_attempts):
            if area >= target:
                break
            kind = rng.random()
            a, b = rng.uniform(8, 28) * u, rng.uniform(7, 18) * u
            if kind > 0.95:
                a, b = rng.uniform(35, 70) * u, rng.uniform(22, 40) * u
            if road_lines and rng.random() < 0.85:
                line, rw = road_lines[int(rng.integers(len(road_lines)))]
                d = rng.uniform(0, line.length)
                p = line.interpolate(d)
                ang = _tangent(line, d) + rng.normal(0, 0.04)
                off = rw / 2 + (3 + rng.uniform(0, 10)) * u + b / 2
                off *= 1 if rng.random() < 0.5 else -1
                cx, cy = p.x - off * math.sin(ang), p.y + off * math.cos(ang)
            else:
                cx = rng.normal(vx, 0.12 * width)
                cy = rng.normal(vy, 0.12 * height)
                ang = rng.uniform(0, np.pi)
            half = None
            if kind < 0.62 or kind > 0.95:
                poly = _rect(cx, cy, a, b, ang)
                if rng.random() < 0.6:  # a gabled roof: one half a little darker
                    hx, hy = _transform(np.array([[0.0, b / 4]]), cx, cy, ang)[0]
                    half = _rect(hx, hy, a, b / 2, ang)
            elif kind < 0.85:
                poly = _l_shape(
                    cx, cy, a, b, a * rng.uniform(0.3, 0.6), rng.uniform(5, 14) * u, ang
                )
            else:
                a, b = rng.uniform(24, 44) * u, rng.uniform(22, 36) * u
                poly = _courtyard(cx, cy, a, b, rng.uniform(5, 9) * u, ang)
            if not frame.contains(poly.centroid):
                continue
            # Occupied areas are marked grown by 2 units, which keeps objects apart.
            last_chance = attempt == max_attempts - 1 and not houses
            if not occ.free(poly, forbid) and not last_chance:
                continue
            poly = poly.intersection(frame)
            if poly.is_empty:
                continue
            for part in _polys(poly):
                scene.add(1, part, _pick(rng, 1))
            if half is not None:
                scene.roof_halves.append(half)
            occ.mark(poly.buffer(2.0 * u, quad_segs=1), occ.BUILDING)
            houses.append((poly, ang))
            area += poly.area

    # ---- misc structures: sheds, fences and walls, isolated small objects
    if 2 in present:
        forbid = occ.ROAD | occ.BUILDING | occ.WATER
        n_sheds = int(len(houses) * rng.uniform(0.3, 0.8))
        n_fences = int(len(houses) * rng.uniform(0.1, 0.4))
        n_isolated = int(rng.integers(1, 5) * n_area) + (0 if houses else 2)
        made = 0
        for _ in range(n_sheds * 3):
            if made >= n_sheds or not houses:
                break
            house, ang = houses[int(rng.integers(len(houses)))]
            c = house.centroid
            r = math.sqrt(house.area) * 0.7 + rng.uniform(4, 10) * u
            t = rng.uniform(0, 2 * np.pi)
            sx, sy = c.x + r * math.cos(t), c.y + r * math.sin(t)
            shed = _rect(sx, sy, rng.uniform(3, 7) * u, rng.uniform(3, 6) * u, ang)
            if not occ.free(shed, forbid):
                continue
            shed = shed.intersection(frame)
            for part in _polys(shed):
                scene.add(2, part, _pick(rng, 2))
            occ.mark(shed.buffer(1.0 * u, quad_segs=1), occ.BUILDING)
            made += 1
        blockers = _union_grown(scene, (1, 3), 1.0 * u) if n_fences else None
        for _ in range(n_fences):
            house, ang = houses[int(rng.integers(len(houses)))]
            plot = house.minimum_rotated_rectangle.buffer(
                rng.uniform(4, 9) * u, join_style="mitre", mitre_limit=3
            )
            ring = list(plot.exterior.coords)
            k = int(rng.integers(len(ring) - 1))
            n_sides = int(rng.integers(1, 4))
            line = LineString(ring[k : k + n_sides + 1] if k + n_sides < len(ring) else ring[k:])
            if line.length < 5 * u:
                continue
            fence = line.buffer(rng.uniform(0.7, 1.1) * u, cap_style="flat", join_style="mitre")
            local = blockers.intersection(fence.envelope.buffer(2 * u))
            fence = fence.difference(local).intersection(frame)
            for part in _polys(fence):
                if part.area > 2 * u * u:
                    scene.add(2, part, _pick(rng, 2))
        for _ in range(n_isolated):
            cx, cy = rng.uniform(5, width - 5), rng.uniform(5, height - 5)
            if rng.random() < 0.5:
                obj = Point(cx, cy).buffer(rng.uniform(2, 4) * u, quad_segs=3)
            else:
                length, wid = rng.uniform(4, 9) * u, rng.uniform(3, 6) * u
                obj = _rect(cx, cy, length, wid, rng.uniform(0, np.pi))
            if not occ.free(obj, forbid):
                continue
            scene.add(2, obj, _pick(rng, 2))
            occ.mark(obj.buffer(1.0 * u, quad_segs=1), occ.BUILDING)
        if margins and not houses:
            line = margins[int(rng.integers(len(margins)))]
            wall = line.buffer(0.9 * u, cap_style="flat").intersection(frame)
            for part in _polys(wall):
                scene.add(2, part, _pick(rng, 2))

    # ---- trees: woodland, clumps, hedgerows
    if 5 in present:
        forbid = occ.ROAD | occ.BUILDING | occ.WATER
        trees: list = []
        material = _pick(rng, 5)
        n_wood = int(rng.choice([0, 1, 1, 1, 2]))
        for _ in range(n_wood):
            r = rng.uniform(0.08, 0.22) * side
            wood = _blob(
                rng,
                rng.uniform(0, width),
                rng.uniform(0, height),
                r,
                aspect=rng.uniform(0.5, 1.0),
                angle=rng.uniform(0, np.pi),
                rough=0.2,
            )
            minx, miny, maxx, maxy = wood.bounds
            holes = [
                Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy)).buffer(
                    rng.uniform(3, 8) * u, quad_segs=3
                )
                for _ in range(int(rng.integers(0, 4)))
            ]
            if holes:
                wood = wood.difference(shapely.union_all(holes))
            trees.append(wood)
        n_clumps = max(1, int(rng.uniform(4, 18) * n_area))
        for _ in range(n_clumps):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            k = int(rng.integers(2, 22))
            spread = rng.uniform(3, 12) * u
            xs, ys = rng.normal(cx, spread, k), rng.normal(cy, spread, k)
            rs = rng.uniform(2.5, 6.5, k) * u
            for x, y, r in zip(xs, ys, rs, strict=True):
                if 0 <= x < width and 0 <= y < height and occ.grid[int(y), int(x)] & forbid:
                    continue
                trees.append(Point(x, y).buffer(r, quad_segs=3))
        if margins:
            n_hedges = int(rng.integers(0, min(len(margins), 6) + 1))
            for j in rng.permutation(len(margins))[:n_hedges]:
                line = margins[int(j)]
                trees.append(line.buffer(rng.uniform(1.5, 2.5) * u, quad_segs=2))
                for di in np.arange(0, line.length, rng.uniform(4, 9) * u):
                    p = line.interpolate(di)
                    centre = Point(p.x + rng.normal(0, u), p.y + rng.normal(0, u))
                    trees.append(centre.buffer(rng.uniform(2, 4) * u, quad_segs=2))
        if trees:
            canopy = shapely.union_all(trees).intersection(frame)
            for poly in _polys(canopy):
                scene.add(5, poly, material if rng.random() < 0.8 else _pick(rng, 5))

    # ---- vehicles: on the roads (along the lanes) and parked beside houses
    for cls, dims, count in ((9, (6.0, 3.0), (1, 5)), (10, (3.0, 2.0), (4, 26))):
        if cls not in present or not road_lines:
            continue
        n_veh = max(1, int(rng.integers(*count) * n_area))
        forbid = occ.VEHICLE | occ.BUILDING | occ.WATER
        placed = 0
        max_attempts = n_veh * 6
        for attempt in range(max_attempts):
            if placed >= n_veh:
                break
            length = dims[0] * rng.uniform(0.9, 1.25) * u
            wid = dims[1] * rng.uniform(0.85, 1.15) * u
            if cls == 10 and houses and rng.random() < 0.35:
                house, ang = houses[int(rng.integers(len(houses)))]
                c = house.centroid
                r = math.sqrt(house.area) * 0.6 + rng.uniform(3, 6) * u
                t = rng.uniform(0, 2 * np.pi)
                cx, cy = c.x + r * math.cos(t), c.y + r * math.sin(t)
                ang += rng.choice([0.0, math.pi / 2])
            else:
                line, rw = road_lines[int(rng.integers(len(road_lines)))]
                d = rng.uniform(0, line.length)
                p = line.interpolate(d)
                ang = _tangent(line, d)
                off = rng.uniform(-1, 1) * max(rw / 2 - wid / 2 - 0.5 * u, 0.0)
                cx, cy = p.x - off * math.sin(ang), p.y + off * math.cos(ang)
            veh = _rect(cx, cy, length, wid, ang)
            if not frame.contains(veh):
                continue
            last_chance = attempt == max_attempts - 1 and not placed
            if not occ.free(veh, forbid) and not last_chance:
                continue
            scene.add(cls, veh, _pick(rng, cls))
            occ.mark(veh.buffer(0.8 * u, quad_segs=1), occ.VEHICLE)
            placed += 1
    return scene


def _union_grown(scene: Scene, classes: tuple[int, ...], distance: float):
    """Union of the scene's polygons of some classes, grown by ``distance``."""
    polys = [p for c in classes for p, _ in scene.objects.get(c, [])]
    if not polys:
        return Polygon()
    return shapely.union_all(polys).buffer(distance, quad_segs=1)


def scene_labels(scene: Scene) -> dict[int, MultiPolygon]:
    """ClassType -> MultiPolygon (pixel coordinates): exclusive in PRIORITY order.

    Each class loses what the classes above it cover; vehicles (OVERLAYS) keep their
    full shape and do not cut the road below them.
    """
    frame = box(0, 0, scene.width, scene.height)
    labels: dict[int, MultiPolygon] = {}
    above: list = []
    for i, cls in enumerate(PRIORITY):
        polys = [p for p, _ in scene.objects.get(cls, [])]
        if not polys:
            labels[cls] = MultiPolygon()
            continue
        own = shapely.union_all(polys).intersection(frame)
        tree = shapely.STRtree(above) if above else None
        pieces = []
        for part in _polys(own):
            # Only the pieces above that touch this part matter.
            near = tree.query(part, predicate="intersects") if tree is not None else []
            if len(near):
                part = part.difference(shapely.union_all([above[j] for j in near]))
            pieces.extend(_polys(part))
        labels[cls] = _clean(MultiPolygon(pieces) if pieces else None)
        if i < len(PRIORITY) - 1:
            above.extend(_polys(own))
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
    height, width = scene.height, scene.width
    u = scene.unit
    _, index = _material_table()
    classmap = np.zeros((height, width), np.uint8)
    fractions = dict.fromkeys(CLASS_TYPES, 0.0)
    for cls in PRIORITY[::-1] + OVERLAYS:
        geom = labels_px.get(cls)
        if geom is None or geom.is_empty:
            continue
        mask = _rasterize_in_bounds(geom, height, width)
        classmap[mask] = cls
        fractions[cls] = float(np.count_nonzero(mask)) / mask.size

    # Materials: background by smooth noise, objects by their own material.
    material = np.full((height, width), index["grass"], np.uint8)
    bg = _smooth_noise(rng, height, width, sigma=0.04 * math.sqrt(height * width), down=8)
    q_dry, q_soil = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
    lo, hi = np.quantile(bg[:: max(1, height // 64), :: max(1, width // 64)], [q_dry, 1 - q_soil])
    material[bg < lo] = index["dry_grass"]
    material[bg > hi] = index["soil"]
    for cls in PRIORITY[::-1] + OVERLAYS:
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
    bright += texture * _smooth_noise(rng, height, width, sigma=1.0 * u, down=max(1, int(u)))
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
    lengths = ((1, rng.uniform(2.5, 5.0) * u), (2, 1.5 * u), (5, rng.uniform(2.0, 4.0) * u))
    for cls, length in lengths:
        geom = labels_px.get(cls)
        if geom is None or geom.is_empty:
            continue
        _fill(shadow, affinity.translate(geom, ux * length, uy * length), 1)
    shadow[(classmap == 1) | (classmap == 2) | (classmap == 5)] = 0
    shade[shadow > 0] *= rng.uniform(0.4, 0.5)
    bright *= shade
    np.clip(bright, 0.05, 3.0, out=bright)
    return material, bright.astype(np.float32), fractions


def _to_dn(plane: np.ndarray, band: str, channel: int, gain_scale, offset_scale, rng):
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
    table, _ = _material_table()
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
    """Classes drawn in each image (a set of ClassTypes per image, in id order).

    Every class appears both among the last two training ids (the workflow's default
    validation images for synthetic data) and among the other training ids, so that
    it is trained on and validated on; with fewer than 3 training images, in each
    half of them. Vehicles come with roads."""
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
    first = n_train - 2 if n_train >= 3 else (n_train + 1) // 2
    for group in (range(0, first), range(first, n_train)):
        if len(group) == 0:
            continue
        for cls in CLASS_TYPES:
            if any(cls in plans[i] for i in group):
                continue
            i = group[int(rng.integers(len(group)))]
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

    for _attempt in range(6):
        scene = build_scene(rng, height, width, present)
        labels = scene_labels(scene)
        missing = sorted(c for c in present if labels[c].is_empty)
        if not missing:
            break
        log.debug("%s: classes %s came out empty, drawing the scene again", image_id, missing)
    else:
        log.warning("%s: classes %s are missing from the scene", image_id, missing)

    # Labels go through the grid WKT and back, so that imagery matches the CSV exactly.
    wkt: dict[int, str] = {}
    round_trip: dict[int, MultiPolygon] = {}
    for cls in CLASS_TYPES:
        geom = labels[cls]
        if geom.is_empty:
            wkt[cls] = EMPTY_WKT
            round_trip[cls] = MultiPolygon()
            continue
        for _repair in range(3):
            grid = pixels_to_grid(geom, width, height, xmax, ymin)
            text = shapely.to_wkt(grid, rounding_precision=8, trim=False)
            parsed = parse_wkt(text, f"synthetic {image_id} class {cls}")
            if parsed.is_valid:
                break
            # Rounding to 8 decimals pinched a ring: repair in pixels, drop slivers.
            geom = _clean(grid_to_pixels(parsed, width, height, xmax, ymin))
        wkt[cls] = text
        round_trip[cls] = grid_to_pixels(parsed, width, height, xmax, ymin)

    material, bright, fractions = render_scene(rng, scene, round_trip)
    bands = render_bands(rng, material, bright, offsets, shapes)
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


def _replaceable(out_dir: Path) -> bool:
    """An earlier synthetic dataset, or only empty folders (and our extra CSV): what
    Snakemake leaves after deleting a rule's declared outputs before rerunning it."""
    if (out_dir / TRUTH_FILE).exists():
        return True
    files = (p for p in out_dir.rglob("*") if not p.is_dir())
    return all(p.relative_to(out_dir).as_posix() == TEST_WKT_FILE for p in files)


@contextlib.contextmanager
def _atomic_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary sibling directory, renamed onto ``out_dir`` when the block succeeds."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DstlError(f"{out_dir}: exists and is not a directory")
    if out_dir.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise DstlError(f"{out_dir}: refusing to replace the current directory or one above it")
    if out_dir.is_dir() and not _replaceable(out_dir):
        raise DstlError(
            f"{out_dir}: exists, holds files and is not a synthetic dataset (no {TRUTH_FILE}); "
            "refusing to replace it"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)  # what a killed earlier run left
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if out_dir.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent)
            )
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
        _write_csv(tmp / TEST_WKT_FILE, header, test_wkt_rows)
        (tmp / TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n")
    return truth
