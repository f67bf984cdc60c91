"""Geometry helpers of the synthetic geo scenes: seeded random streams, blobs, roads
across a scene and beside it, rectangles, the nodata border (all in map coordinates)."""

from __future__ import annotations

import math

import numpy as np

from dstl_hpc.sources.geo.synthetic.dataset import FINE_RES


def seeded_rng(seed: int, scene: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, scene, part])


def blob(rng, cx: float, cy: float, r: float, rough: float = 0.25):
    """A smooth, irregular closed shape of mean radius ``r`` around (cx, cy)."""
    from shapely.affinity import rotate, scale
    from shapely.geometry import Polygon

    theta = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    rad = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        rad += rough / k * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    shape = Polygon(np.column_stack([cx + r * rad * np.cos(theta), cy + r * rad * np.sin(theta)]))
    shape = scale(shape, rng.uniform(0.7, 1.0), 1.0, origin=(cx, cy))
    return rotate(shape, rng.uniform(0, 180), origin=(cx, cy))


def crossing(rng, bounds, axis: int, meander: float = 0.0, bend: float = 0.15):
    """A gently curved line across the scene (axis 0: west to east, 1: north to south),
    running 60 m beyond its edges."""
    from shapely.geometry import LineString

    left, bottom, right, top = bounds
    ext = right - left
    t = np.linspace(-0.06, 1.06, 81)
    a, b = rng.uniform(0.12, 0.88, 2)
    along = t * ext
    across = (a + (b - a) * t) * ext + rng.uniform(-bend, bend) * ext * np.sin(np.pi * t)
    if meander:
        wave = ext / rng.uniform(180, 320)
        across = across + meander * np.sin(2 * np.pi * wave * t + rng.uniform(0, 2 * np.pi))
    if axis == 0:
        xy = np.column_stack([left + along, bottom + across])
    else:
        xy = np.column_stack([left + across, top - along])
    return LineString(xy)


def branch(rng, road):
    """A side street: from a point of ``road`` at about a right angle, 120 to 320 m long."""
    from shapely.geometry import LineString

    s = rng.uniform(0.2, 0.8) * road.length
    (x0, y0), (dx, dy) = point_and_direction(road, s)
    side = rng.choice([-1.0, 1.0])
    angle = math.atan2(dy, dx) + side * math.radians(90 + rng.uniform(-20, 20))
    length = rng.uniform(120, 320)
    end = (x0 + length * math.cos(angle), y0 + length * math.sin(angle))
    return LineString([(x0, y0), end])


def point_and_direction(line, s: float):
    s = min(max(s, 0.0), line.length - 1.0)
    p, q = line.interpolate(s), line.interpolate(s + 1.0)
    dx, dy = q.x - p.x, q.y - p.y
    norm = math.hypot(dx, dy) or 1.0
    return (p.x, p.y), (dx / norm, dy / norm)


def rectangle(cx: float, cy: float, w: float, d: float, angle_deg: float):
    from shapely.affinity import rotate, translate
    from shapely.geometry import box

    return translate(rotate(box(-w / 2, -d / 2, w / 2, d / 2), angle_deg, origin=(0, 0)), cx, cy)


def beside(rng, line, half_width: float, setback: float, w: float, d: float, side: float):
    """A ``w`` x ``d`` rectangle beside ``line`` at a random position, facing it."""
    s = rng.uniform(0.0, line.length)
    (x, y), (dx, dy) = point_and_direction(line, s)
    off = half_width + setback + d / 2
    cx, cy = x - side * dy * off, y + side * dx * off
    return rectangle(cx, cy, w, d, math.degrees(math.atan2(dy, dx)))


def nodata_border(rng, bounds, kind: int):
    """The nodata part of a scene: a cut corner (kind 0) or a ragged strip (kind 1)."""
    from shapely.geometry import Polygon

    left, bottom, right, top = bounds
    ext = right - left
    if kind == 0:
        a, b = rng.uniform(0.15, 0.3, 2) * ext
        t = np.linspace(0, 1, 13)
        jitter = np.r_[0, rng.uniform(-4, 4, 11), 0]
        u, v = a * (1 - t) + jitter, b * t + jitter
        local = [(-1.0, -1.0), (a, -1.0), *zip(u, v, strict=True), (-1.0, b)]
        sx, sy = rng.choice([-1.0, 1.0], 2)
        ox, oy = (left if sx > 0 else right), (bottom if sy > 0 else top)
        return Polygon([(ox + sx * p, oy + sy * q) for p, q in local])
    t = np.linspace(0, 1, 33)
    width = (
        rng.uniform(24, 34)
        + 5 * np.sin(2 * np.pi * (rng.uniform(0.8, 2.0) * t + rng.uniform(0, 1)))
        + rng.uniform(-1.5, 1.5, t.size)
    ) * FINE_RES
    local = [(-1.0, -1.0), (ext + 1.0, -1.0), *zip(t[::-1] * ext, width[::-1], strict=True)]
    side = int(rng.integers(4))
    if side == 0:  # south
        pts = [(left + p, bottom + q) for p, q in local]
    elif side == 1:  # north
        pts = [(left + p, top - q) for p, q in local]
    elif side == 2:  # west
        pts = [(left + q, bottom + p) for p, q in local]
    else:  # east
        pts = [(right - q, bottom + p) for p, q in local]
    return Polygon(pts)
