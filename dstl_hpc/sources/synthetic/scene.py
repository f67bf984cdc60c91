"""A scene: the objects of one image as pixel polygons, and what laying it out shares.

:class:`Scene` is the result (polygons per class with their materials, crop rows,
roof halves, the sun); :class:`Site` is the state the feature painters of
:mod:`~dstl_hpc.sources.synthetic.land` and :mod:`~dstl_hpc.sources.synthetic.built` share while they lay
one out: the random generator, an :class:`Occupancy` grid that keeps objects
apart, and the lines later features follow (field margins, roads, houses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from shapely import affinity
from shapely.geometry import LineString, Polygon, box

from dstl_hpc.sources.synthetic.shapes import parts


@dataclass
class Scene:
    """The objects of one image, in pixel coordinates, and how to render them."""

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
        """Add an object of a class, painted with ``material``."""
        self.objects.setdefault(class_type, []).append((poly, material))

    def window(self, row0: int, col0: int, height: int, width: int, margin: int = 40) -> Scene:
        """The part of the scene that a ``height`` x ``width`` tile at (``row0``, ``col0``)
        sees (objects within ``margin`` px of it, for their shadows), in the tile's pixel
        coordinates: a tile of a mosaic scene."""
        seen = box(col0 - margin, row0 - margin, col0 + width + margin, row0 + height + margin)

        def move(geom):
            return affinity.translate(geom, -col0, -row0)

        out = Scene(height, width, sun=self.sun, unit=self.unit)
        for cls, objs in self.objects.items():
            out.objects[cls] = [(move(p), m) for p, m in objs if p.intersects(seen)]
        out.fields = [(move(p), *rest) for p, *rest in self.fields if p.intersects(seen)]
        out.roof_halves = [move(p) for p in self.roof_halves if p.intersects(seen)]
        return out


class Occupancy:
    """Bit flags per pixel (drawn with cv2.fillPoly) to keep objects apart quickly."""

    ROAD, BUILDING, WATER, VEHICLE, TREE, TRACK = 1, 2, 4, 8, 16, 32
    TAKEN = ROAD | BUILDING | WATER  # what buildings, structures and trees keep off

    def __init__(self, height: int, width: int):
        self.grid = np.zeros((height, width), np.uint8)

    def _window(self, geom):
        """(the grid over geom's bounding box, geom's mask there), None when empty or outside."""
        if geom is None or geom.is_empty:
            return None
        h, w = self.grid.shape
        minx, miny, maxx, maxy = geom.bounds
        x0, y0 = max(int(math.floor(minx)) - 1, 0), max(int(math.floor(miny)) - 1, 0)
        x1, y1 = min(int(math.ceil(maxx)) + 2, w), min(int(math.ceil(maxy)) + 2, h)
        if x1 <= x0 or y1 <= y0:
            return None
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for poly in parts(geom):
            pts = np.asarray(poly.exterior.coords)[:, :2] - (x0, y0)
            cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        return self.grid[y0:y1, x0:x1], mask

    def free(self, geom, forbid: int) -> bool:
        """Whether no pixel of ``geom`` carries a flag of ``forbid`` (False when outside)."""
        window = self._window(geom)
        return window is not None and not np.any((window[0] & forbid)[window[1] > 0])

    def mark(self, geom, bit: int) -> None:
        """Set flag ``bit`` on the pixels of ``geom``."""
        window = self._window(geom)
        if window is not None:
            sub, mask = window
            sub[mask > 0] |= bit


def object_unit(height: int, width: int) -> float:
    """Pixels per "unit" of small objects: 1 up to 1000 px images, then growing with size.

    Small images (the defaults) keep objects small (vehicles ~6 x 3 and 3 x 2 px) so
    that they hold many; a real-size image (3348 x 3392) gets objects about 3.4 times
    larger, close to the real data's (0.3 m pixels), and proportionally fewer of them.
    """
    return max(1.0, math.sqrt(height * width) / 1000.0)


@dataclass
class Site:
    """What the feature painters share while they lay out one scene."""

    rng: np.random.Generator
    scene: Scene
    present: set[int]  # the classes to draw
    occ: Occupancy
    frame: Polygon  # the image
    big: Polygon  # the image and a 40 px border: long features run on past the edge
    side: float  # sqrt(height * width)
    unit: float  # object_unit
    n_area: float  # scale of the number of small objects (per area)
    n_lin: float  # scale of the number of linear features (per side)
    # Field edges (tracks and hedgerows follow them), roads (centre line, width),
    # houses (polygon, orientation): laid out by earlier features, used by later ones.
    margins: list[LineString] = field(default_factory=list)
    road_lines: list[tuple[LineString, float]] = field(default_factory=list)
    houses: list[tuple[Polygon, float]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        rng: np.random.Generator,
        height: int,
        width: int,
        present: set[int],
        unit: float | None = None,
    ) -> Site:
        """An empty site; draws the sun's direction (the first draw of a scene). ``unit``:
        the small-object unit (default: :func:`object_unit` of the site's size; a mosaic
        scene takes its tiles')."""
        u = object_unit(height, width) if unit is None else unit
        scene = Scene(height, width, unit=u)
        sun_angle = rng.uniform(0, 2 * np.pi)
        scene.sun = (math.cos(sun_angle), math.sin(sun_angle))
        return cls(
            rng=rng,
            scene=scene,
            present=set(present),
            occ=Occupancy(height, width),
            frame=box(0, 0, width, height),
            big=box(-40, -40, width + 40, height + 40),
            side=math.sqrt(height * width),
            unit=u,
            n_area=height * width / (384.0 * u) ** 2,
            n_lin=math.sqrt(height * width) / (384.0 * u),
        )

    @property
    def height(self) -> int:
        return self.scene.height

    @property
    def width(self) -> int:
        return self.scene.width
