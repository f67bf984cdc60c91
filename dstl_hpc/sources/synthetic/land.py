"""The open land of a scene: crop fields, the river, ponds, tracks and trees.

Each ``add_*`` lays out one kind of feature on a :class:`~dstl_hpc.sources.synthetic.scene.Site`
(pixel coordinates); :func:`dstl_hpc.sources.synthetic.image.build_scene` calls them in a fixed
order, which fixes the draws from the random generator.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point

from dstl_hpc.sources.synthetic.materials import pick
from dstl_hpc.sources.synthetic.scene import Site
from dstl_hpc.sources.synthetic.shapes import blob, edge_start, parts, rect, walk


def _cuts(rng: np.random.Generator, reach: float, lo: float, hi: float, side: float) -> list:
    """Positions from -reach past +reach, steps drawn between lo and hi times ``side``."""
    cuts = [-reach]
    while cuts[-1] < reach:
        cuts.append(cuts[-1] + rng.uniform(lo, hi) * side)
    return cuts


def add_fields(site: Site) -> None:
    """Crops: a rotated grid of parcels, some of them fields; parcel edges become margins."""
    rng, u, frame = site.rng, site.unit, site.frame
    angle = rng.uniform(-0.5, 0.5) + (math.pi / 2 if rng.random() < 0.3 else 0.0)
    p_field = rng.uniform(0.35, 1.0)
    reach = 0.75 * math.hypot(site.width, site.height)
    us = _cuts(rng, reach, 0.18, 0.45, site.side)
    vs = _cuts(rng, reach, 0.14, 0.35, site.side)
    n_fields = 0
    for u0, u1 in zip(us[:-1], us[1:], strict=True):
        for v0, v1 in zip(vs[:-1], vs[1:], strict=True):
            m = rng.uniform(1.5, 4.0) * u
            cell = rect(0, 0, u1 - u0 - 2 * m, v1 - v0 - 2 * m, 0)
            cell = affinity.translate(cell, (u0 + u1) / 2, (v0 + v1) / 2)
            cell = affinity.rotate(cell, angle, origin=(0, 0), use_radians=True)
            cell = affinity.translate(cell, site.width / 2, site.height / 2)
            if not cell.intersects(frame):
                continue
            edge = LineString(list(cell.exterior.coords)[:2]).intersection(frame)
            if not edge.is_empty and edge.length > 20 * u:
                site.margins.append(edge)
            if rng.random() > p_field and n_fields > 0:
                continue
            clipped = cell.intersection(frame)
            if clipped.area < 30 * u * u:
                continue
            n_fields += 1
            _sow(site, clipped, angle)


def _sow(site: Site, parcel, angle: float) -> None:
    """A crop field on ``parcel``: one material, rows along or across the parcel grid."""
    rng = site.rng
    material = pick(rng, 6)
    row_angle = angle + (math.pi / 2 if rng.random() < 0.5 else 0.0)
    period = rng.uniform(3.0, 7.0)
    amp = {"crop_plough": 0.22, "crop_green": 0.12}.get(material, 0.08)
    for poly in parts(parcel):
        site.scene.add(6, poly, material)
        site.scene.fields.append((poly, row_angle, period, amp))


def add_waterway(site: Site) -> None:
    """A meandering river across the image: two incommensurate waves with a drifting
    amplitude, plus a random walk."""
    rng, side, u = site.rng, site.side, site.unit
    x, y, heading = edge_start(rng, site.height, site.width, margin=30)
    length = 1.6 * max(site.height, site.width)
    n = 160
    t = np.linspace(0, 1, n)
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
    river = river.intersection(site.big)
    material = pick(rng, 7)
    for poly in parts(river):
        site.scene.add(7, poly, material)
    site.occ.mark(river.buffer(3 * u, quad_segs=2), site.occ.WATER)


def add_ponds(site: Site) -> None:
    """Standing water: one to three compact ponds, the odd lake, apart from other water."""
    rng, side, u, occ = site.rng, site.side, site.unit, site.occ
    n_ponds = int(rng.integers(1, 4))
    placed = 0
    for attempt in range(60):
        r = 3 * u + rng.uniform(0.01, 0.05) * side * (2.0 if rng.random() < 0.15 else 1.0)
        pond = blob(
            rng,
            rng.uniform(r, site.width - r),
            rng.uniform(r, site.height - r),
            r,
            aspect=rng.uniform(0.6, 1.0),
            angle=rng.uniform(0, np.pi),
            rough=0.15,
        )
        if attempt < 50 and not occ.free(pond.buffer(4 * u, quad_segs=2), occ.WATER):
            continue
        site.scene.add(8, pond, pick(rng, 8))
        occ.mark(pond.buffer(3 * u, quad_segs=2), occ.WATER)
        placed += 1
        if placed >= n_ponds:
            break


def add_tracks(site: Site) -> None:
    """Tracks: thin winding dirt paths, every other one along a field margin."""
    rng, u = site.rng, site.unit
    n_tracks = max(1, int(round(rng.uniform(1.0, 3.5) * site.n_lin)))
    for i in range(n_tracks):
        w = rng.uniform(2.0, 4.0) * u
        if site.margins and i % 2 == 1:
            line = site.margins[int(rng.integers(len(site.margins)))]
            if rng.random() < 0.5:
                line = line.offset_curve(rng.uniform(-2, 2) * u)
        else:
            line = _winding_path(site)
        track = line.buffer(w / 2, quad_segs=2).intersection(site.big)
        for poly in parts(track):
            site.scene.add(4, poly, "track")
        site.occ.mark(track, site.occ.TRACK)


def _winding_path(site: Site) -> LineString:
    """A walk from an edge, drawn again (up to 8 times) until a good part lies in the image."""
    rng = site.rng
    for _ in range(8):
        x, y, heading = edge_start(rng, site.height, site.width, margin=10)
        step = 8.0 * site.unit
        n = int(rng.uniform(0.6, 1.6) * max(site.height, site.width) / step) + 2
        line = LineString(walk(rng, x, y, heading, step, n, 0.1, momentum=0.5))
        if line.intersection(site.frame).length > 0.4 * site.side:
            break
    return line


def add_trees(site: Site) -> None:
    """Trees: woodland with clearings, clumps of crowns, hedgerows on field margins."""
    rng = site.rng
    material = pick(rng, 5)
    n_wood = int(rng.choice([0, 1, 1, 1, 2]))
    trees = [_wood(site) for _ in range(n_wood)]
    trees += _clumps(site)
    trees += _hedgerows(site)
    if trees:
        canopy = shapely.union_all(trees).intersection(site.frame)
        for poly in parts(canopy):
            site.scene.add(5, poly, material if rng.random() < 0.8 else pick(rng, 5))


def _wood(site: Site):
    """A wood: a large blob with up to three round clearings."""
    rng, u = site.rng, site.unit
    r = rng.uniform(0.08, 0.22) * site.side
    wood = blob(
        rng,
        rng.uniform(0, site.width),
        rng.uniform(0, site.height),
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
    return wood


def _clumps(site: Site) -> list:
    """Round crowns in clumps, none rooted on roads, buildings or water."""
    rng, u, occ = site.rng, site.unit, site.occ
    crowns = []
    n_clumps = max(1, int(rng.uniform(4, 18) * site.n_area))
    for _ in range(n_clumps):
        cx, cy = rng.uniform(0, site.width), rng.uniform(0, site.height)
        k = int(rng.integers(2, 22))
        spread = rng.uniform(3, 12) * u
        xs, ys = rng.normal(cx, spread, k), rng.normal(cy, spread, k)
        rs = rng.uniform(2.5, 6.5, k) * u
        for x, y, r in zip(xs, ys, rs, strict=True):
            inside = 0 <= x < site.width and 0 <= y < site.height
            if inside and occ.grid[int(y), int(x)] & occ.TAKEN:
                continue
            crowns.append(Point(x, y).buffer(r, quad_segs=3))
    return crowns


def _hedgerows(site: Site) -> list:
    """Hedges along up to six field margins: a strip and crowns along it."""
    rng, u = site.rng, site.unit
    if not site.margins:
        return []
    hedges = []
    n_hedges = int(rng.integers(0, min(len(site.margins), 6) + 1))
    for j in rng.permutation(len(site.margins))[:n_hedges]:
        line = site.margins[int(j)]
        hedges.append(line.buffer(rng.uniform(1.5, 2.5) * u, quad_segs=2))
        for di in np.arange(0, line.length, rng.uniform(4, 9) * u):
            p = line.interpolate(di)
            centre = Point(p.x + rng.normal(0, u), p.y + rng.normal(0, u))
            hedges.append(centre.buffer(rng.uniform(2, 4) * u, quad_segs=2))
    return hedges
