"""One synthetic geo scene's layout: its features (roads, water, trees, parking lots,
buildings), fields and nodata border in map coordinates, each painted exactly as labelled."""

from __future__ import annotations

import math

import numpy as np

from dstl_hpc.sources.geo.synthetic.dataset import UNMAPPED
from dstl_hpc.sources.geo.synthetic.materials import FIELDS, ROOFS
from dstl_hpc.sources.geo.synthetic.shapes import (
    beside,
    blob,
    branch,
    crossing,
    nodata_border,
    point_and_direction,
    rectangle,
    seeded_rng,
)


class SceneLayout:
    """The features of one scene, in map coordinates, each painted exactly as labelled."""

    def __init__(self, seed: int, index: int, bounds, classes):
        from shapely import make_valid, set_precision, union_all
        from shapely.geometry import box

        self._set_precision = set_precision
        self.bounds = bounds
        self.box = box(*bounds)
        self.features: list[tuple[str, str, object, object]] = []  # kind, value, label, paint
        left, bottom, right, top = bounds
        ext = right - left
        area = (ext / 1024.0) ** 2
        rng = seeded_rng(seed, index, 1)

        # Roads: two crossings, a third and side streets in larger scenes.
        lines = []
        for axis in (0, 1):
            lines.append(crossing(rng, bounds, axis))
        if ext >= 600:
            lines.append(crossing(rng, bounds, int(rng.integers(2))))
        for _ in range(int(round(2 * area))):
            lines.append(branch(rng, lines[int(rng.integers(len(lines)))]))
        widths = [float(rng.uniform(6, 10)) for _ in lines]
        road_shapes = [
            line.buffer(w / 2, cap_style="flat").intersection(self.box)
            for line, w in zip(lines, widths, strict=True)
        ]
        roads = union_all(road_shapes)

        # Water: a river in every other scene, and lakes.
        water_shapes = []
        if index % 2 == 0:
            river = crossing(rng, bounds, int(rng.integers(2)), meander=rng.uniform(15, 35))
            water_shapes.append(river.buffer(rng.uniform(8, 15)))
        for _ in range(max(1, int(round(1.5 * area)))):
            r = min(rng.uniform(25, 65), 0.12 * ext)
            for _try in range(40):
                cx, cy = rng.uniform(left + r, right - r), rng.uniform(bottom + r, top - r)
                lake = blob(rng, cx, cy, r)
                if not lake.intersects(roads.buffer(12)) and not any(
                    lake.intersects(w.buffer(15)) for w in water_shapes
                ):
                    water_shapes.append(lake)
                    break
        water = union_all(water_shapes).intersection(self.box) if water_shapes else None
        if water is not None:
            water = water.difference(roads)  # roads cross rivers on bridges

        # Trees: woods and copses (cut by roads and water) and a row of crowns by a road.
        tree_parts = []
        for _ in range(max(2, int(round(8 * area)))):
            r = min(rng.uniform(15, 60), 0.15 * ext)
            cx, cy = rng.uniform(left, right), rng.uniform(bottom, top)
            tree_parts.append(("Woodland" if r > 35 else "Trees", blob(rng, cx, cy, r, 0.35)))
        row_road = lines[int(rng.integers(len(lines)))]
        side = rng.choice([-1.0, 1.0])
        crowns = []
        for s in np.arange(rng.uniform(0, 40), row_road.length, rng.uniform(9, 13)):
            (x, y), (dx, dy) = point_and_direction(row_road, float(s))
            off = widths[lines.index(row_road)] / 2 + 5.0
            crowns.append(
                blob(rng, x - side * dy * off, y + side * dx * off, rng.uniform(3, 4.5), 0.15)
            )
        if crowns:
            tree_parts.append(("Trees", union_all(crowns)))
        cut = roads if water is None else union_all([roads, water])
        trees = []
        for value, part in tree_parts:
            part = part.intersection(self.box).difference(cut)
            for earlier in trees:
                part = part.difference(earlier[1])
            if not part.is_empty:
                trees.append((value, part))
        tree_all = union_all([p for _, p in trees]) if trees else None

        # Parking lots and buildings beside the roads, clear of everything else.
        obstacles = [roads.buffer(1.0)]
        if water is not None:
            obstacles.append(water.buffer(4.0))
        if tree_all is not None:
            obstacles.append(tree_all.buffer(1.0))
        parking = []
        for _ in range(max(1, int(round(3 * area)))):
            for _try in range(30):
                k = int(rng.integers(len(lines)))
                lot = beside(
                    rng,
                    lines[k],
                    widths[k] / 2,
                    rng.uniform(2, 5),
                    rng.uniform(20, 45),
                    rng.uniform(14, 30),
                    rng.choice([-1.0, 1.0]),
                )
                if lot.within(self.box) and not any(lot.intersects(o) for o in obstacles):
                    parking.append(lot)
                    obstacles.append(lot.buffer(2.0))
                    break
        buildings = []
        for k, line in enumerate(lines):
            for s in np.arange(rng.uniform(0, 20), line.length, 1.0):
                if rng.random() > 0.035:
                    continue
                w, d = rng.uniform(6, 20), rng.uniform(6, 16)
                side = rng.choice([-1.0, 1.0])
                (x, y), (dx, dy) = point_and_direction(line, float(s))
                off = widths[k] / 2 + rng.uniform(4, 12) + d / 2
                angle = math.degrees(math.atan2(dy, dx))
                if rng.random() < 0.3:
                    angle += rng.uniform(-40, 40)
                house = rectangle(x - side * dy * off, y + side * dx * off, w, d, angle)
                if house.within(self.box) and not any(house.intersects(o) for o in obstacles):
                    buildings.append(house)
                    obstacles.append(house.buffer(2.0))
        for _ in range(int(round(6 * area))):  # farm buildings in the fields
            w, d = rng.uniform(8, 20), rng.uniform(6, 14)
            house = rectangle(
                rng.uniform(left, right), rng.uniform(bottom, top), w, d, rng.uniform(0, 180)
            )
            if house.within(self.box) and not any(house.intersects(o) for o in obstacles):
                buildings.append(house)
                obstacles.append(house.buffer(2.0))

        self.roof = [int(rng.integers(len(ROOFS))) for _ in buildings]
        self.roof_gain = [float(rng.uniform(0.85, 1.2)) for _ in buildings]
        self.fields = self._fields(rng, area)
        self.border = nodata_border(rng, bounds, index % 2)

        if "water" in classes and water is not None:
            self._add("water", "Water", water)
        if "trees" in classes:
            for value, part in trees:
                self._add("trees", value, part)
        for lot in parking:
            self._add("parking", UNMAPPED, lot)
        if "road" in classes:
            self._add("road", "Road", roads)
        # The index (into roof, roof_gain) of each building feature, in feature order.
        self.buildings = []
        if "building" in classes:
            for k, house in enumerate(buildings):
                self.buildings.append(k)
                self._add("building", "Building", house)
        self._make_valid = make_valid

    def _fields(self, rng, area):
        """A patchwork of fields (Voronoi cells) with a land cover, gain and crop rows each."""
        from shapely import voronoi_polygons
        from shapely.geometry import MultiPoint

        left, bottom, right, top = self.bounds
        n = max(4, int(round(14 * area)))
        pts = MultiPoint(
            np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
        )
        cells = [c.intersection(self.box) for c in voronoi_polygons(pts, extend_to=self.box).geoms]
        return [
            {
                "shape": cell,
                "cover": int(rng.integers(len(FIELDS))),
                "gain": float(rng.uniform(0.85, 1.15)),
                "rows": (float(rng.uniform(0, np.pi)), float(rng.uniform(2.5, 5.0)))
                if rng.random() < 0.5
                else None,
            }
            for cell in cells
            if not cell.is_empty
        ]

    def _add(self, kind, value, geom):
        # On a 1 cm grid: no sliver or spike from the cuts turns invalid in degrees.
        geom = self._set_precision(geom, 0.01)
        if not geom.is_empty:
            self.features.append((kind, value, geom, geom))

    def make_bow_tie(self, keep_out) -> int:
        """Turn one building's label into a bow-tie (painted as its repair, two triangles)."""
        from shapely.geometry import Polygon

        for n, (kind, value, label, _paint) in enumerate(self.features):
            if kind != "building" or (keep_out is not None and label.intersects(keep_out)):
                continue
            p0, p1, p2, p3 = list(label.exterior.coords)[:4]
            tie = Polygon([p0, p2, p1, p3])
            self.features[n] = (kind, value, tie, self._make_valid(tie))
            return 1
        return 0
