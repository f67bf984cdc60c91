"""Geometry primitives of the scenes, in pixel coordinates (y down).

Rotated rectangles, L-shapes and courtyards (buildings), noisy star-shaped blobs
(ponds, woods), random walks (roads, tracks, rivers) and the helpers that keep
shapely's results valid polygons.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon


def transform(local: np.ndarray, cx: float, cy: float, angle: float) -> np.ndarray:
    """Points in an object's own frame, rotated by ``angle`` and moved to (cx, cy)."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return local @ rot + np.array([cx, cy])


def rect(cx, cy, length, width, angle) -> Polygon:
    """A rectangle centred on (cx, cy), ``length`` along the direction ``angle``."""
    hx, hy = length / 2, width / 2
    local = np.array([(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)])
    return Polygon(transform(local, cx, cy, angle))


def l_shape(cx, cy, a, b, wa, wb, angle) -> Polygon:
    """An a x b rectangle with a wing of width ``wa`` reaching ``wb`` past one side."""
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
    return Polygon(transform(local, cx, cy, angle))


def courtyard(cx, cy, a, b, t, angle) -> Polygon:
    """An a x b block with walls ``t`` thick around an open courtyard (a hole)."""
    outer = np.array([(-a / 2, -b / 2), (a / 2, -b / 2), (a / 2, b / 2), (-a / 2, b / 2)])
    ia, ib = a / 2 - t, b / 2 - t
    inner = np.array([(-ia, -ib), (-ia, ib), (ia, ib), (ia, -ib)])
    return Polygon(transform(outer, cx, cy, angle), [transform(inner, cx, cy, angle)])


def blob(rng, cx, cy, radius, aspect=1.0, angle=0.0, rough=0.25, n=None) -> Polygon:
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
    return Polygon(transform(local, cx, cy, angle))


def walk(rng, x, y, heading, step, n, turn_sd, momentum=0.0) -> np.ndarray:
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


def edge_start(rng, height, width, margin=8.0):
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


def parts(geom) -> list[Polygon]:
    """The non-empty polygons of any geometry (none for lines, points or nothing)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def clean(geom, min_area: float = 0.5) -> MultiPolygon:
    """A valid MultiPolygon without slivers."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return MultiPolygon([p for p in parts(geom) if p.area >= min_area])


def tangent(line: LineString, d: float) -> float:
    """Direction (radians) of ``line`` at distance ``d`` along it."""
    a = line.interpolate(max(d - 1.0, 0.0))
    b = line.interpolate(min(d + 1.0, line.length))
    return math.atan2(b.y - a.y, b.x - a.x)


def longest(geom):
    """The longest line of a (multi)line: what is left of a walk clipped to the image."""
    return max(getattr(geom, "geoms", [geom]), key=lambda g: g.length)
