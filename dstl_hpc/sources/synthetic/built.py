"""The built-up part of a scene: roads, buildings, structures and vehicles.

Each ``add_*`` lays out one kind of feature on a :class:`~dstl_hpc.sources.synthetic.scene.Site`
(pixel coordinates); :func:`dstl_hpc.sources.synthetic.image.build_scene` calls them in a fixed
order, which fixes the draws from the random generator. Buildings follow the roads,
structures and parked cars follow the buildings.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from dstl_hpc.sources.synthetic.materials import pick
from dstl_hpc.sources.synthetic.scene import Scene, Site
from dstl_hpc.sources.synthetic.shapes import (
    courtyard,
    edge_start,
    l_shape,
    longest,
    parts,
    rect,
    tangent,
    transform,
    walk,
)

# ------------------------------------------------------------------ helpers


def _road_point(site: Site) -> tuple[Point, float, float]:
    """A random point on a random road: (point, road direction there, road width)."""
    line, road_width = site.road_lines[int(site.rng.integers(len(site.road_lines)))]
    d = site.rng.uniform(0, line.length)
    return line.interpolate(d), tangent(line, d), road_width


def _beside(p: Point, off: float, ang: float) -> tuple[float, float]:
    """The point ``off`` to the side of ``p`` (left of direction ``ang``, y down)."""
    return p.x - off * math.sin(ang), p.y + off * math.cos(ang)


def _around(site: Site, house: Polygon, reach: float, lo: float, hi: float):
    """A random point around ``house``: sqrt(area) * reach plus lo..hi units from its centre."""
    c = house.centroid
    r = math.sqrt(house.area) * reach + site.rng.uniform(lo, hi) * site.unit
    t = site.rng.uniform(0, 2 * np.pi)
    return c.x + r * math.cos(t), c.y + r * math.sin(t)


def _union_grown(scene: Scene, classes: tuple[int, ...], distance: float):
    """Union of the scene's polygons of some classes, grown by ``distance``."""
    polys = [p for c in classes for p, _ in scene.objects.get(c, [])]
    if not polys:
        return Polygon()
    return shapely.union_all(polys).buffer(distance, quad_segs=1)


# -------------------------------------------------------------------- roads


def add_roads(site: Site) -> None:
    """Roads: long gentle main roads from the edges, side streets where houses will be."""
    rng, u = site.rng, site.unit
    _main_roads(site)
    has_houses = 1 in site.present and site.road_lines
    n_side = int(rng.integers(1, 5) * site.n_lin) if has_houses else 0
    _side_streets(site, n_side)
    for line, w in site.road_lines:
        road = line.buffer(w / 2, quad_segs=2, cap_style="flat").intersection(site.big)
        material = pick(rng, 3)
        for poly in parts(road):
            site.scene.add(3, poly, material)
        site.occ.mark(road.buffer(2 * u, quad_segs=1), site.occ.ROAD)


def _main_roads(site: Site) -> None:
    """Gently curving walks from an edge across the image (at least 0.2 sides inside)."""
    rng, u = site.rng, site.unit
    n_main = max(1, int(round(rng.uniform(0.7, 2.2) * site.n_lin)))
    for _attempt in range(n_main + 6):
        if len(site.road_lines) >= n_main:
            break
        x, y, heading = edge_start(rng, site.height, site.width, margin=15)
        step = 12.0 * u
        n = int(2.2 * max(site.height, site.width) / step) + 2
        pts = walk(rng, x, y, heading, step, n, 0.03, momentum=0.7)
        line = LineString(pts).intersection(site.frame.buffer(15 * u))
        if line.is_empty or line.length < 0.2 * site.side:
            continue
        site.road_lines.append((longest(line), rng.uniform(7.0, 10.0) * u))


def _side_streets(site: Site, n_side: int) -> None:
    """Narrower streets branching off the roads at about a right angle."""
    rng, u = site.rng, site.unit
    for _ in range(n_side):
        base, _w = site.road_lines[int(rng.integers(len(site.road_lines)))]
        d = rng.uniform(0.1, 0.9) * base.length
        p = base.interpolate(d)
        turn = (1 if rng.random() < 0.5 else -1) * (math.pi / 2 + rng.normal(0, 0.2))
        heading = tangent(base, d) + turn
        n = int(rng.uniform(40, 160) / 8) + 1
        line = LineString(walk(rng, p.x, p.y, heading, 8.0 * u, n, 0.08)).intersection(site.big)
        if line.is_empty or line.length < 10 * u:
            continue
        site.road_lines.append((longest(line), rng.uniform(5.0, 7.0) * u))


# ---------------------------------------------------------------- buildings


def add_buildings(site: Site) -> None:
    """Buildings along the roads, else clustered around a village centre, until they
    cover a drawn share of the image; each keeps the others 2 units away."""
    rng, u, occ = site.rng, site.unit, site.occ
    target = rng.uniform(0.02, 0.13) * site.height * site.width
    area = 0.0
    village = rng.uniform(0.25, 0.75) * site.width, rng.uniform(0.25, 0.75) * site.height
    max_attempts = int(300 * site.n_area) + 200
    for attempt in range(max_attempts):
        if area >= target:
            break
        kind = rng.random()
        a, b = rng.uniform(8, 28) * u, rng.uniform(7, 18) * u
        if kind > 0.95:
            a, b = rng.uniform(35, 70) * u, rng.uniform(22, 40) * u
        cx, cy, ang = _house_place(site, b, village)
        poly, half = _house_shape(site, kind, a, b, cx, cy, ang)
        if not site.frame.contains(poly.centroid):
            continue
        last_chance = attempt == max_attempts - 1 and not site.houses
        if not occ.free(poly, occ.TAKEN) and not last_chance:
            continue
        poly = poly.intersection(site.frame)
        if poly.is_empty:
            continue
        for part in parts(poly):
            site.scene.add(1, part, pick(rng, 1))
        if half is not None:
            site.scene.roof_halves.append(half)
        occ.mark(poly.buffer(2.0 * u, quad_segs=1), occ.BUILDING)
        site.houses.append((poly, ang))
        area += poly.area


def _house_place(site: Site, b: float, village: tuple[float, float]):
    """(cx, cy, angle) of a house b deep: facing a road (85%), else near the village centre."""
    rng, u = site.rng, site.unit
    if site.road_lines and rng.random() < 0.85:
        p, along, road_width = _road_point(site)
        ang = along + rng.normal(0, 0.04)
        off = road_width / 2 + (3 + rng.uniform(0, 10)) * u + b / 2
        off *= 1 if rng.random() < 0.5 else -1
        return (*_beside(p, off, ang), ang)
    cx = rng.normal(village[0], 0.12 * site.width)
    cy = rng.normal(village[1], 0.12 * site.height)
    return cx, cy, rng.uniform(0, np.pi)


def _house_shape(site: Site, kind: float, a: float, b: float, cx, cy, ang):
    """(footprint, darker roof half or None): a rectangle (often gabled), an L or a courtyard."""
    rng, u = site.rng, site.unit
    if kind < 0.62 or kind > 0.95:
        poly = rect(cx, cy, a, b, ang)
        if rng.random() < 0.6:  # a gabled roof: one half a little darker
            hx, hy = transform(np.array([[0.0, b / 4]]), cx, cy, ang)[0]
            return poly, rect(hx, hy, a, b / 2, ang)
        return poly, None
    if kind < 0.85:
        return l_shape(cx, cy, a, b, a * rng.uniform(0.3, 0.6), rng.uniform(5, 14) * u, ang), None
    a, b = rng.uniform(24, 44) * u, rng.uniform(22, 36) * u
    return courtyard(cx, cy, a, b, rng.uniform(5, 9) * u, ang), None


# --------------------------------------------------------------- structures


def add_structures(site: Site) -> None:
    """Misc structures: sheds by the houses, fences round their plots, isolated small
    objects, and a wall along a field margin where there are no houses."""
    rng, u = site.rng, site.unit
    n_houses = len(site.houses)
    n_sheds = int(n_houses * rng.uniform(0.3, 0.8))
    n_fences = int(n_houses * rng.uniform(0.1, 0.4))
    n_isolated = int(rng.integers(1, 5) * site.n_area) + (0 if site.houses else 2)
    _sheds(site, n_sheds)
    _fences(site, n_fences)
    _isolated(site, n_isolated)
    if site.margins and not site.houses:
        line = site.margins[int(rng.integers(len(site.margins)))]
        wall = line.buffer(0.9 * u, cap_style="flat").intersection(site.frame)
        for part in parts(wall):
            site.scene.add(2, part, pick(rng, 2))


def _sheds(site: Site, n_sheds: int) -> None:
    """Small rectangles beside random houses, aligned with them (3 tries each)."""
    rng, u, occ = site.rng, site.unit, site.occ
    made = 0
    for _ in range(n_sheds * 3):
        if made >= n_sheds or not site.houses:
            break
        house, ang = site.houses[int(rng.integers(len(site.houses)))]
        sx, sy = _around(site, house, 0.7, 4, 10)
        shed = rect(sx, sy, rng.uniform(3, 7) * u, rng.uniform(3, 6) * u, ang)
        if not occ.free(shed, occ.TAKEN):
            continue
        shed = shed.intersection(site.frame)
        for part in parts(shed):
            site.scene.add(2, part, pick(rng, 2))
        occ.mark(shed.buffer(1.0 * u, quad_segs=1), occ.BUILDING)
        made += 1


def _fences(site: Site, n_fences: int) -> None:
    """One to three sides of a house's plot, cut where buildings and roads are."""
    rng, u = site.rng, site.unit
    blockers = _union_grown(site.scene, (1, 3), 1.0 * u) if n_fences else None
    for _ in range(n_fences):
        house, _ang = site.houses[int(rng.integers(len(site.houses)))]
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
        fence = fence.difference(local).intersection(site.frame)
        for part in parts(fence):
            if part.area > 2 * u * u:
                site.scene.add(2, part, pick(rng, 2))


def _isolated(site: Site, n_isolated: int) -> None:
    """Small round or rectangular objects anywhere free (tanks, huts)."""
    rng, u, occ = site.rng, site.unit, site.occ
    for _ in range(n_isolated):
        cx, cy = rng.uniform(5, site.width - 5), rng.uniform(5, site.height - 5)
        if rng.random() < 0.5:
            obj = Point(cx, cy).buffer(rng.uniform(2, 4) * u, quad_segs=3)
        else:
            length, wid = rng.uniform(4, 9) * u, rng.uniform(3, 6) * u
            obj = rect(cx, cy, length, wid, rng.uniform(0, np.pi))
        if not occ.free(obj, occ.TAKEN):
            continue
        site.scene.add(2, obj, pick(rng, 2))
        occ.mark(obj.buffer(1.0 * u, quad_segs=1), occ.BUILDING)


# ----------------------------------------------------------------- vehicles


def add_vehicles(site: Site) -> None:
    """Vehicles on the roads (along the lanes); small ones also parked beside houses."""
    for cls, dims, count in ((9, (6.0, 3.0), (1, 5)), (10, (3.0, 2.0), (4, 26))):
        if cls in site.present and site.road_lines:
            _park(site, cls, dims, count)


def _park(site: Site, cls: int, dims: tuple[float, float], count: tuple[int, int]) -> None:
    """Vehicles of one class (length x width in units), wholly inside the image and apart."""
    rng, u, occ = site.rng, site.unit, site.occ
    n_veh = max(1, int(rng.integers(*count) * site.n_area))
    forbid = occ.VEHICLE | occ.BUILDING | occ.WATER
    placed = 0
    max_attempts = n_veh * 6
    for attempt in range(max_attempts):
        if placed >= n_veh:
            break
        length = dims[0] * rng.uniform(0.9, 1.25) * u
        wid = dims[1] * rng.uniform(0.85, 1.15) * u
        cx, cy, ang = _vehicle_place(site, cls, wid)
        veh = rect(cx, cy, length, wid, ang)
        if not site.frame.contains(veh):
            continue
        last_chance = attempt == max_attempts - 1 and not placed
        if not occ.free(veh, forbid) and not last_chance:
            continue
        site.scene.add(cls, veh, pick(rng, cls))
        occ.mark(veh.buffer(0.8 * u, quad_segs=1), occ.VEHICLE)
        placed += 1


def _vehicle_place(site: Site, cls: int, wid: float):
    """(cx, cy, angle) of a vehicle ``wid`` wide: in a lane, or (cars) beside a house."""
    rng, u = site.rng, site.unit
    if cls == 10 and site.houses and rng.random() < 0.35:
        house, ang = site.houses[int(rng.integers(len(site.houses)))]
        cx, cy = _around(site, house, 0.6, 3, 6)
        return cx, cy, ang + rng.choice([0.0, math.pi / 2])
    p, ang, road_width = _road_point(site)
    off = rng.uniform(-1, 1) * max(road_width / 2 - wid / 2 - 0.5 * u, 0.0)
    return (*_beside(p, off, ang), ang)
