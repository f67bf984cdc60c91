"""A small synthetic georeferenced dataset for the geo demo, written by the workflow itself.

:func:`write_geo_dataset` writes, under ``out_dir``:

- ``rasters/{scene}_fine.tif``: blue, green, red, nir (uint16, 2 m, EPSG:32631, nodata 0);
- ``rasters/{scene}_coarse.jp2`` (or ``.tif``): swir1, swir2 (uint16, 4 m, same extent,
  nodata 0): JPEG 2000 (lossless) when this GDAL can write it, else GeoTIFF, to show that
  the source reads any GDAL format. JPEG 2000 keeps nodata and band names in a
  ``.aux.xml`` sidecar, GDAL's usual place for them in that format;
- ``scenes.csv`` (``scene,split,files``), ``labels.gpkg`` (field ``landuse``, EPSG:4326),
  ``labelled_area.gpkg`` (EPSG:4326) and ``manifest.json``.

Every scene shows fields and bare soil, roads, buildings, parking lots, trees and water,
drawn as polygons in map coordinates and rasterised into the bands, so that the label
polygons are exactly the painted shapes. A nodata border (a cut corner or a ragged
strip along one side) imitates a scene footprint. One building label is a bow-tie (an
invalid polygon, painted as its repair); ``Parking`` maps to no class; a quarter of the
first training scene is left out of the labelled area and its features out of the labels.

The whole folder is written into a hidden temporary folder beside ``out_dir`` and renamed
onto it once complete. The same seed gives the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import remove_stale
from dstl_hpc.errors import DstlError

GENERATOR = "dstl_hpc.sources.geo.synthetic"
CRS = "EPSG:32631"
LABEL_CRS = "EPSG:4326"
FINE_RES = 2.0
COARSE_RES = 4.0
FINE_BANDS = ("blue", "green", "red", "nir")
COARSE_BANDS = ("swir1", "swir2")
CLASS_FIELD = "landuse"
LABELS_LAYER = "labels"
AREA_LAYER = "labelled_area"
KINDS = ("building", "road", "water", "trees")
# The label values of each class (what a config maps) and the one value mapped to none.
VALUES = {
    "building": ("Building",),
    "road": ("Road",),
    "water": ("Water",),
    "trees": ("Trees", "Woodland"),
}
UNMAPPED = "Parking"
MIN_SIZE = 128
# The fixed date GDAL writes into the GeoPackages (their bytes depend only on the seed).
_GPKG_DATE = "2000-01-01T00:00:00.000Z"

# Paint codes of the class map, and the spectra (blue, green, red, nir, swir1, swir2) as
# reflectance x 10 000. Each class differs from the others in swir too.
_BACKGROUND, _WATER, _TREES, _PARKING, _ROAD, _BUILDING = range(6)
_SPECTRA = {
    _WATER: (560, 520, 320, 130, 70, 45),
    _TREES: (260, 520, 300, 3900, 1300, 580),
    _PARKING: (1050, 1100, 1150, 1350, 2150, 2050),
    _ROAD: (1250, 1300, 1350, 1450, 1750, 1650),
}
_ROOFS = (
    (2100, 2200, 2300, 2500, 2950, 2650),  # light grey
    (1500, 1700, 2500, 2400, 3100, 2900),  # tiles
    (2500, 2550, 2600, 2700, 3300, 3000),  # white
)
_FIELDS = (
    (450, 800, 560, 2800, 2450, 1550),  # green crop
    (900, 1150, 1450, 2100, 3000, 2500),  # bare soil
    (720, 1000, 1200, 2600, 2750, 2000),  # dry grass
    (1000, 1250, 1500, 2300, 3250, 2800),  # stubble
)


# ------------------------------------------------------------------ layout helpers
def scene_ids(scenes: int) -> list[str]:
    """The scene ids of a dataset of ``scenes`` scenes."""
    return [f"scene{k + 1}" for k in range(scenes)]


def scene_splits(scenes: int) -> list[str]:
    """The splits, in scene order: train, ..., train, validation, test."""
    return ["train"] * (scenes - 2) + ["validation", "test"]


def scene_files(scene: str, coarse_driver: str) -> list[str]:
    """The raster files of ``scene``, relative to the dataset folder."""
    ext = "jp2" if coarse_driver == "JP2OpenJPEG" else "tif"
    return [f"rasters/{scene}_fine.tif", f"rasters/{scene}_coarse.{ext}"]


_JP2_PROBE: dict[str, bool] = {}


def coarse_driver() -> str:
    """``JP2OpenJPEG`` if this GDAL writes lossless JPEG 2000 that reads back the same,
    else ``GTiff``. Probed once (a 16 x 16 file in a temporary folder)."""
    if "jp2" not in _JP2_PROBE:
        _JP2_PROBE["jp2"] = _probe_jp2()
    return "JP2OpenJPEG" if _JP2_PROBE["jp2"] else "GTiff"


def _probe_jp2() -> bool:
    import rasterio
    from rasterio.transform import from_origin

    data = (np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16) * 97) % 60000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.jp2"
        try:
            with rasterio.Env(CPL_LOG="/dev/null"):
                with rasterio.open(
                    path, "w", **_profile("JP2OpenJPEG", 2, 16, 16, from_origin(0, 16, 1, 1))
                ) as dst:
                    dst.write(data)
                with rasterio.open(path) as src:
                    return src.driver == "JP2OpenJPEG" and bool(np.array_equal(src.read(), data))
        except Exception:  # any failure means: no usable JPEG 2000 writer
            return False


def _profile(driver: str, count: int, height: int, width: int, transform) -> dict:
    profile = {
        "driver": driver,
        "count": count,
        "height": height,
        "width": width,
        "dtype": "uint16",
        "crs": CRS,
        "transform": transform,
        "nodata": 0,
    }
    if driver == "JP2OpenJPEG":
        profile.update(QUALITY="100", REVERSIBLE="YES")
    else:
        profile.update(compress="deflate", predictor=2)
    return profile


# ------------------------------------------------------------------ geometry helpers
def _rng(seed: int, scene: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, scene, part])


def _blob(rng, cx: float, cy: float, r: float, rough: float = 0.25):
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


def _crossing(rng, bounds, axis: int, meander: float = 0.0, bend: float = 0.15):
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


def _branch(rng, road):
    """A side street: from a point of ``road`` at about a right angle, 120 to 320 m long."""
    from shapely.geometry import LineString

    s = rng.uniform(0.2, 0.8) * road.length
    (x0, y0), (dx, dy) = _point_and_direction(road, s)
    side = rng.choice([-1.0, 1.0])
    angle = math.atan2(dy, dx) + side * math.radians(90 + rng.uniform(-20, 20))
    length = rng.uniform(120, 320)
    end = (x0 + length * math.cos(angle), y0 + length * math.sin(angle))
    return LineString([(x0, y0), end])


def _point_and_direction(line, s: float):
    s = min(max(s, 0.0), line.length - 1.0)
    p, q = line.interpolate(s), line.interpolate(s + 1.0)
    dx, dy = q.x - p.x, q.y - p.y
    norm = math.hypot(dx, dy) or 1.0
    return (p.x, p.y), (dx / norm, dy / norm)


def _rectangle(cx: float, cy: float, w: float, d: float, angle_deg: float):
    from shapely.affinity import rotate, translate
    from shapely.geometry import box

    return translate(rotate(box(-w / 2, -d / 2, w / 2, d / 2), angle_deg, origin=(0, 0)), cx, cy)


def _beside(rng, line, half_width: float, setback: float, w: float, d: float, side: float):
    """A ``w`` x ``d`` rectangle beside ``line`` at a random position, facing it."""
    s = rng.uniform(0.0, line.length)
    (x, y), (dx, dy) = _point_and_direction(line, s)
    off = half_width + setback + d / 2
    cx, cy = x - side * dy * off, y + side * dx * off
    return _rectangle(cx, cy, w, d, math.degrees(math.atan2(dy, dx)))


def _border(rng, bounds, kind: int):
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


# ------------------------------------------------------------------ one scene's layout
class _Layout:
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
        rng = _rng(seed, index, 1)

        # Roads: two crossings, a third and side streets in larger scenes.
        lines = []
        for axis in (0, 1):
            lines.append(_crossing(rng, bounds, axis))
        if ext >= 600:
            lines.append(_crossing(rng, bounds, int(rng.integers(2))))
        for _ in range(int(round(2 * area))):
            lines.append(_branch(rng, lines[int(rng.integers(len(lines)))]))
        widths = [float(rng.uniform(6, 10)) for _ in lines]
        road_shapes = [
            line.buffer(w / 2, cap_style="flat").intersection(self.box)
            for line, w in zip(lines, widths, strict=True)
        ]
        roads = union_all(road_shapes)

        # Water: a river in every other scene, and lakes.
        water_shapes = []
        if index % 2 == 0:
            river = _crossing(rng, bounds, int(rng.integers(2)), meander=rng.uniform(15, 35))
            water_shapes.append(river.buffer(rng.uniform(8, 15)))
        for _ in range(max(1, int(round(1.5 * area)))):
            r = min(rng.uniform(25, 65), 0.12 * ext)
            for _try in range(40):
                cx, cy = rng.uniform(left + r, right - r), rng.uniform(bottom + r, top - r)
                lake = _blob(rng, cx, cy, r)
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
            tree_parts.append(("Woodland" if r > 35 else "Trees", _blob(rng, cx, cy, r, 0.35)))
        row_road = lines[int(rng.integers(len(lines)))]
        side = rng.choice([-1.0, 1.0])
        crowns = []
        for s in np.arange(rng.uniform(0, 40), row_road.length, rng.uniform(9, 13)):
            (x, y), (dx, dy) = _point_and_direction(row_road, float(s))
            off = widths[lines.index(row_road)] / 2 + 5.0
            crowns.append(
                _blob(rng, x - side * dy * off, y + side * dx * off, rng.uniform(3, 4.5), 0.15)
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
                lot = _beside(
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
                (x, y), (dx, dy) = _point_and_direction(line, float(s))
                off = widths[k] / 2 + rng.uniform(4, 12) + d / 2
                angle = math.degrees(math.atan2(dy, dx))
                if rng.random() < 0.3:
                    angle += rng.uniform(-40, 40)
                house = _rectangle(x - side * dy * off, y + side * dx * off, w, d, angle)
                if house.within(self.box) and not any(house.intersects(o) for o in obstacles):
                    buildings.append(house)
                    obstacles.append(house.buffer(2.0))
        for _ in range(int(round(6 * area))):  # farm buildings in the fields
            w, d = rng.uniform(8, 20), rng.uniform(6, 14)
            house = _rectangle(
                rng.uniform(left, right), rng.uniform(bottom, top), w, d, rng.uniform(0, 180)
            )
            if house.within(self.box) and not any(house.intersects(o) for o in obstacles):
                buildings.append(house)
                obstacles.append(house.buffer(2.0))

        self.roof = [int(rng.integers(len(_ROOFS))) for _ in buildings]
        self.roof_gain = [float(rng.uniform(0.85, 1.2)) for _ in buildings]
        self.fields = self._fields(rng, area)
        self.border = _border(rng, bounds, index % 2)

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
                "cover": int(rng.integers(len(_FIELDS))),
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


# ------------------------------------------------------------------ painting
def _noise(rng, shape, sigma: float) -> np.ndarray:
    """Gaussian-smoothed noise with unit standard deviation."""
    import cv2

    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


def _paint(layout: _Layout, seed: int, index: int, size: int, transform) -> np.ndarray:
    """The scene's six bands (blue, green, red, nir, swir1, swir2) at 2 m, float32."""
    from rasterio.features import rasterize

    rng = _rng(seed, index, 2)
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
        [_FIELDS[0]] + [np.array(_FIELDS[f["cover"]]) * f["gain"] for f in layout.fields],
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

    codes = {"water": _WATER, "trees": _TREES, "parking": _PARKING, "road": _ROAD}
    pairs = [(paint, codes[kind]) for kind, _v, _l, paint in layout.features if kind in codes]
    code = (
        rasterize(pairs, out_shape=shape, transform=transform, fill=0, dtype="uint8")
        if pairs
        else np.zeros(shape, np.uint8)
    )
    fine = _noise(rng, shape, 1.0)
    smooth = _noise(rng, shape, 10.0)
    for c, texture in (
        (_WATER, 1 + 0.04 * smooth),
        (_TREES, None),
        (_PARKING, 1 + 0.05 * fine),
        (_ROAD, 1 + 0.03 * fine),
    ):
        m = code == c
        if not m.any():
            continue
        spectrum = np.array(_SPECTRA[c], np.float32)[:, None]
        if c == _TREES:  # crowns: bright nir tops, darker gaps in every band
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
            table[n + 1] = np.array(_ROOFS[layout.roof[k]]) * layout.roof_gain[k]
        m = house_id > 0
        img[:, m] = table[house_id[m]].T * (1 + 0.03 * fine[m])

    img += rng.normal(0.0, 18.0, img.shape).astype(np.float32)  # sensor noise
    return img


def _to_uint16(values: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    out = np.clip(np.rint(values), 1, 65535).astype(np.uint16)
    out[:, invalid] = 0
    return out


# ------------------------------------------------------------------ writing
def write_geo_dataset(
    out_dir,
    scenes: int = 4,
    size: int = 512,
    seed: int = 0,
    classes=KINDS,
) -> dict:
    """Write the synthetic geo dataset into ``out_dir`` (replaced whole, once complete);
    return its manifest (also ``out_dir/manifest.json``)."""
    out = Path(out_dir)
    classes = tuple(classes)
    if scenes < 3:
        raise DstlError(
            f"{out}: a synthetic geo dataset needs at least 3 scenes "
            f"(train, validation, test), got {scenes}"
        )
    if size < MIN_SIZE or size % 2:
        raise DstlError(f"{out}: the scene size must be an even number >= {MIN_SIZE}, got {size}")
    unknown = [c for c in classes if c not in KINDS]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise DstlError(
            f"{out}: classes {list(classes)!r} must be distinct names among {', '.join(KINDS)}"
        )
    _check_replaceable(out)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders: give the usual mode
    try:
        manifest = _write_all(tmp, scenes, size, seed, classes)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise DstlError(f"{out}: exists and is not a folder; not replacing it")
    if not any(out.iterdir()):
        return
    try:
        ours = json.loads((out / "manifest.json").read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise DstlError(
            f"{out}: a non-empty folder that this generator did not write; not replacing it"
        )


def _replace(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` onto ``out`` (an earlier dataset moves aside)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_all(root: Path, n_scenes: int, size: int, seed: int, classes) -> dict:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.features import rasterize
    from rasterio.transform import array_bounds, from_origin
    from rasterio.warp import reproject
    from shapely.geometry import box

    driver = coarse_driver()
    ids, splits = scene_ids(n_scenes), scene_splits(n_scenes)
    (root / "rasters").mkdir()
    ext_m = size * FINE_RES
    spacing = ext_m + 2000.0
    coarse = size // 2
    label_rows, area_rows, scene_entries = [], [], []
    invalid = unlabelled = 0

    for i, (sid, split) in enumerate(zip(ids, splits, strict=True)):
        west = 496000.0 + spacing * (i % 3)
        north = 5603000.0 - spacing * (i // 3) - 700.0 * (i % 2)
        transform = from_origin(west, north, FINE_RES, FINE_RES)
        coarse_transform = from_origin(west, north, COARSE_RES, COARSE_RES)
        bounds = array_bounds(size, size, transform)
        layout = _Layout(seed, i, bounds, classes)

        # The first training scene has an unlabelled quarter (its north-east).
        scene_box = box(*bounds)
        hole = None
        if i == 0:
            left, bottom, right, top = bounds
            hole = box((left + right) / 2, (bottom + top) / 2, right, top)
        if i == 0 and "building" in classes:
            invalid += layout.make_bow_tie(hole)
        labelled = scene_box if hole is None else scene_box.difference(hole)
        area_rows.append((sid, labelled))
        for _kind, value, label, paint in layout.features:
            if hole is not None and paint.intersects(hole):
                unlabelled += 1
                label = paint.intersection(labelled)
                if label.is_empty or label.area == 0:
                    continue
            label_rows.append((sid, value, label))

        img = _paint(layout, seed, i, size, transform)
        invalid_px = rasterize(
            [(layout.border, 1)], out_shape=(size, size), transform=transform, dtype="uint8"
        ).astype(bool)
        swir = np.zeros((2, coarse, coarse), np.float32)
        reproject(
            img[4:6],
            swir,
            src_transform=transform,
            src_crs=CRS,
            dst_transform=coarse_transform,
            dst_crs=CRS,
            resampling=Resampling.average,
        )
        coarse_bad = np.zeros((coarse, coarse), np.float32)
        reproject(
            invalid_px.astype(np.float32),
            coarse_bad,
            src_transform=transform,
            src_crs=CRS,
            dst_transform=coarse_transform,
            dst_crs=CRS,
            resampling=Resampling.average,
        )

        files = scene_files(sid, driver)
        fine_path, coarse_path = root / files[0], root / files[1]
        with rasterio.open(fine_path, "w", **_profile("GTiff", 4, size, size, transform)) as dst:
            dst.write(_to_uint16(img[:4], invalid_px))
            dst.descriptions = FINE_BANDS
        with rasterio.open(
            coarse_path, "w", **_profile(driver, 2, coarse, coarse, coarse_transform)
        ) as dst:
            dst.write(_to_uint16(swir, coarse_bad > 0))
            for b, name in enumerate(COARSE_BANDS, 1):
                dst.set_band_description(b, name)
        scene_entries.append(
            {
                "id": sid,
                "split": split,
                "files": files,
                "crs": CRS,
                "transform": list(transform)[:6],
                "size": [size, size],
                "bounds": list(bounds),
                "coarse_transform": list(coarse_transform)[:6],
                "coarse_size": [coarse, coarse],
                "nodata_fraction": round(float(invalid_px.mean()), 4),
            }
        )

    counts = _write_vectors(root, label_rows, area_rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["scene", "split", "files"])
    for s in scene_entries:
        writer.writerow([s["id"], s["split"], ";".join(s["files"])])
    (root / "scenes.csv").write_text(buf.getvalue())

    manifest = {
        "generator": GENERATOR,
        "seed": seed,
        "scene_table": "scenes.csv",
        "scenes": scene_entries,
        "classes": list(classes),
        "class_field": CLASS_FIELD,
        "value_map": {c: list(VALUES[c]) for c in classes},
        "labels": {"path": "labels.gpkg", "layer": LABELS_LAYER, "crs": LABEL_CRS},
        "labelled_area": {"path": "labelled_area.gpkg", "layer": AREA_LAYER, "crs": LABEL_CRS},
        "value_counts": counts,
        "unmapped": {"value": UNMAPPED, "count": counts.get(UNMAPPED, 0)},
        "invalid_polygons": invalid,
        "unlabelled_features": unlabelled,
        "coarse_format": driver,
        "bands": {"fine": list(FINE_BANDS), "coarse": list(COARSE_BANDS)},
        "resolution_m": {"fine": FINE_RES, "coarse": COARSE_RES},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@contextlib.contextmanager
def _fixed_gpkg_date():
    """GeoPackages record their write time; fix it so the same seed gives the same bytes."""
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def _write_vectors(root: Path, label_rows, area_rows) -> dict:
    """labels.gpkg (one polygon a row, ``landuse``) and labelled_area.gpkg, in EPSG:4326."""
    import geopandas as gpd

    labels = gpd.GeoDataFrame(
        {"scene": [r[0] for r in label_rows], CLASS_FIELD: [r[1] for r in label_rows]},
        geometry=[r[2] for r in label_rows],
        crs=CRS,
    )
    labels = labels.explode(index_parts=False, ignore_index=True)
    labels = labels[labels.geometry.geom_type == "Polygon"].reset_index(drop=True)
    # The deliberately invalid polygons (bow-ties) stay as drawn; any other polygon that
    # the reprojection made invalid (a near-degenerate corner) is repaired in degrees.
    meant = ~labels.geometry.is_valid.to_numpy()
    # Densify long edges so that they stay where they were drawn, once in degrees (not
    # the bow-tie: GEOS densifies a polygon into a repaired one).
    labels.loc[~meant, "geometry"] = labels.geometry[~meant].segmentize(50.0)
    labels = labels.to_crs(LABEL_CRS)
    broken = ~labels.geometry.is_valid.to_numpy() & ~meant
    if broken.any():
        labels.loc[broken, "geometry"] = labels.geometry[broken].make_valid()
        labels = labels.explode(index_parts=False, ignore_index=True)
        labels = labels[labels.geometry.geom_type == "Polygon"].reset_index(drop=True)
    area = gpd.GeoDataFrame(
        {"scene": [r[0] for r in area_rows]}, geometry=[r[1] for r in area_rows], crs=CRS
    )
    area["geometry"] = area.geometry.segmentize(50.0)
    area = area.to_crs(LABEL_CRS)
    with _fixed_gpkg_date():
        labels.to_file(root / "labels.gpkg", layer=LABELS_LAYER, driver="GPKG", engine="pyogrio")
        area.to_file(root / "labelled_area.gpkg", layer=AREA_LAYER, driver="GPKG", engine="pyogrio")
    values = labels[CLASS_FIELD].value_counts()
    return {str(k): int(values[k]) for k in sorted(values.index)}
