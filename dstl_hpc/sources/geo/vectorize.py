"""Probability maps -> polygons in map coordinates -> GIS layers (GeoPackage, GeoJSON).

:func:`trace_probability` thresholds one class of a scene block by block (``p >= threshold``
and valid), labels the connected components of each block (4-connected, as
``rasterio.features.shapes`` traces them) and traces them with ``rasterio.features.shapes``
on the block's window transform in the grid's pixel coordinates (exact integers, so the
pieces of a region meet exactly); the scene's affine transform maps them to map coordinates
at the end. Every polygon carries the sum of its pixels' probabilities and its pixel count
(mean probability = sum / count). Components that touch an internal block border are kept
aside; the labels on either side of each border are compared pixel by pixel (4-adjacency)
and the pieces of one component are unioned at the end, so a polygon crossing blocks comes
out whole with summed probabilities and pixels. Memory: one block, one row of border
labels, and the border pieces.

:func:`write_polygons` writes a scene's polygons with ``class_id``, ``class_name``,
``scene_id``, ``area_m2`` (square metres: the planar area in a projected CRS in metres with
little areal distortion, e.g. UTM; the geodesic area on the CRS's ellipsoid otherwise) and ``mean_prob``; an empty result is a
valid empty layer with the CRS and (GeoPackage; GeoJSON has no schema apart from its
features) the fields. :func:`merge_polygons` gathers scenes into one layer. Every file is
written through :func:`dstl_hpc.atomic.atomic_path`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np

from dstl_hpc.atomic import atomic_path
from dstl_hpc.errors import DstlError

DRIVERS = {"GPKG": ".gpkg", "GeoJSON": ".geojson"}
LAYER = "polygons"
COLUMNS = ("class_id", "class_name", "scene_id", "area_m2", "mean_prob")


class Record(NamedTuple):
    """One output polygon (geometry in the CRS given to :func:`write_polygons`)."""

    geometry: object
    class_id: int
    class_name: str
    scene_id: str
    mean_prob: float


# ---------------------------------------------------------------------------- tracing


def _components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of labels including background 0, int32 labels) of 4-connected components."""
    import cv2

    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    return int(n), labels


def _polygon(geojson: dict):
    """A shapely Polygon from a GeoJSON-like polygon mapping (faster than ``shape``)."""
    from shapely.geometry import Polygon

    rings = [np.asarray(ring, dtype=np.float64) for ring in geojson["coordinates"]]
    return Polygon(rings[0], rings[1:])


def _to_map(geoms: list, transform) -> np.ndarray:
    """Geometries in grid pixel coordinates -> map coordinates (the scene's affine)."""
    import shapely
    from rasterio.transform import AffineTransformer

    to_map = AffineTransformer(transform)

    def apply(xy: np.ndarray) -> np.ndarray:
        # pixel coordinates (col, row) of corners: offset "ul" maps them as they are
        x, y = to_map.xy(xy[:, 1], xy[:, 0], offset="ul")
        return np.column_stack([np.asarray(x, np.float64), np.asarray(y, np.float64)])

    return shapely.transform(np.asarray(geoms, dtype=object), apply)


class _DisjointSet:
    """Union-find over the global ids of border pieces."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        parent = self.parent
        root = a
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(a, a) != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _link(ds: _DisjointSet, a: np.ndarray, b: np.ndarray) -> None:
    """Union the global ids facing each other across a border (both > 0)."""
    both = (a > 0) & (b > 0)
    if not both.any():
        return
    pairs = np.unique(np.stack([a[both], b[both]], axis=1), axis=0)
    for x, y in pairs.tolist():
        ds.union(x, y)


def _block_windows(height: int, width: int, block: int):
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield c // block, (r, c, min(block, height - r), min(block, width - c))


def trace_probability(
    read_window: Callable,
    grid_shape: Sequence[int],
    transform,
    class_index: int,
    threshold: float,
    min_area_px: float = 0,
    simplify_px: float = 0.0,
    block: int = 2048,
) -> list[tuple[object, float, int]]:
    """[(Polygon in map coordinates, sum of its pixels' probabilities, pixel count)] of the
    4-connected regions of ``prob[class_index] >= float32(threshold)`` and valid.

    ``read_window((row_off, col_off, height, width))`` -> (prob float32 (N, h, w), valid bool
    (h, w)); ``grid_shape`` (H, W) and ``transform`` (affine) of the scene grid. Regions
    with fewer than ``min_area_px`` pixels are dropped; ``simplify_px`` > 0 simplifies
    (topology preserving) with a tolerance of ``simplify_px`` pixels in map units.
    """
    import shapely
    from rasterio.features import shapes
    from rasterio.transform import Affine

    height, width = (int(s) for s in grid_shape)
    block = max(int(block), 1)
    thr = np.float32(threshold)
    done: list[tuple[object, float, int]] = []
    pieces: dict[int, tuple[object, float, int]] = {}  # global id -> border piece
    ds = _DisjointSet()
    above = np.zeros(width, np.int64)  # global ids of the last row of the block row above
    next_id = 1
    left = np.zeros(0, np.int64)
    for bj, (r0, c0, h, w) in _block_windows(height, width, block):
        prob, valid = read_window((r0, c0, h, w))
        p = np.asarray(prob[class_index])
        mask = (p >= thr) & np.asarray(valid, dtype=bool)
        if bj == 0:
            left = np.zeros(h, np.int64)
        n, labels = _components(np.ascontiguousarray(mask)) if mask.any() else (1, None)
        if labels is None:
            above[c0 : c0 + w] = 0
            left = np.zeros(h, np.int64)
            continue
        psum = np.bincount(labels.ravel(), weights=p.ravel().astype(np.float64), minlength=n)
        count = np.bincount(labels.ravel(), minlength=n)
        gid = np.zeros(n, np.int64)
        gid[1:] = np.arange(next_id, next_id + n - 1)
        next_id += n - 1
        # labels on the block's internal borders (not the grid's edges)
        edge = []
        if r0 > 0:
            edge.append(labels[0])
        if c0 > 0:
            edge.append(labels[:, 0])
        if r0 + h < height:
            edge.append(labels[-1])
        if c0 + w < width:
            edge.append(labels[:, -1])
        on_border = np.zeros(n, bool)
        for e in edge:
            on_border[e] = True
        on_border[0] = False
        # traced in the grid's pixel coordinates (exact integers, so pieces of one region
        # share their border edges exactly), mapped to map coordinates at the end
        tf = Affine.translation(c0, r0)
        for geojson, value in shapes(labels, mask=labels > 0, connectivity=4, transform=tf):
            k = int(value)
            item = (_polygon(geojson), float(psum[k]), int(count[k]))
            if on_border[k]:
                pieces[int(gid[k])] = item
            else:
                done.append(item)
        if r0 > 0:
            _link(ds, above[c0 : c0 + w], gid[labels[0]])
        if c0 > 0:
            _link(ds, left, gid[labels[:, 0]])
        above[c0 : c0 + w] = gid[labels[-1]]
        left = gid[labels[:, -1]]
        del labels, mask, p, prob, valid
    groups: dict[int, list[int]] = {}
    for g in pieces:
        groups.setdefault(ds.find(g), []).append(g)
    for members in groups.values():
        items = [pieces[g] for g in members]
        if len(items) == 1:
            done.append(items[0])
            continue
        # pieces meet along border edges that each side splits at its own vertices (not
        # a noded coverage), so a full overlay union; exact on integer pixel coordinates
        geom = shapely.union_all([it[0] for it in items])
        psum = sum(it[1] for it in items)
        count = sum(it[2] for it in items)
        done.append((geom, psum, count))
    done = [item for item in done if item[2] >= min_area_px]
    if not done:
        return []
    geoms = np.asarray([item[0] for item in done], dtype=object)
    if simplify_px > 0:  # in pixels: simplify_px * resolution in map units
        geoms = shapely.simplify(geoms, float(simplify_px), preserve_topology=True)
    geoms = _to_map(list(geoms), transform)
    return [(g, psum, count) for g, (_, psum, count) in zip(geoms, done, strict=True)]


def records_for(traced: Iterable, class_id: int, class_name: str, scene_id: str) -> list[Record]:
    """:class:`Record` s of :func:`trace_probability`'s output for one class of a scene."""
    return [
        Record(geom, int(class_id), str(class_name), str(scene_id), psum / count if count else 0.0)
        for geom, psum, count in traced
    ]


# ---------------------------------------------------------------------------- writing


AREAL_SCALE_TOLERANCE = 0.01  # planar areas where the projection's areal scale is within 1%


def _planar_is_true(series, crs) -> bool:
    """Whether planar areas in ``crs`` are square metres at these geometries: a projected
    CRS in metres whose areal scale factor at the geometries' centre is within 1% of 1
    (UTM, national grids, equal-area projections; not Web Mercator away from the equator)."""
    from pyproj import Proj, Transformer

    units = {a.unit_name.lower() for a in crs.axis_info}
    if not crs.is_projected or not units <= {"metre", "meter", "m"}:
        return False
    try:
        minx, miny, maxx, maxy = series.total_bounds
        to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        lon, lat = to_lonlat.transform((minx + maxx) / 2, (miny + maxy) / 2)
        scale = Proj(crs).get_factors(lon, lat).areal_scale
    except Exception:  # noqa: BLE001 - no factors for this CRS: use geodesic areas
        return False
    return bool(np.isfinite(scale)) and abs(scale - 1.0) <= AREAL_SCALE_TOLERANCE


def area_m2(geoms, crs) -> np.ndarray:
    """float64 areas in square metres of geometries in ``crs``: the planar area in a
    projected CRS in metres whose areal scale at the geometries is within 1% of 1 (UTM:
    within 0.1%); otherwise (geographic CRSs, other units, Web Mercator) the geodesic
    area on the CRS's ellipsoid (``pyproj.Geod``), after reprojecting to its geographic
    CRS."""
    import geopandas as gpd

    from dstl_hpc.sources.geo.labels import to_pyproj

    crs = to_pyproj(crs)
    series = gpd.GeoSeries(list(geoms), crs=crs)
    if len(series) == 0:
        return np.zeros(0, np.float64)
    if _planar_is_true(series, crs):
        return series.area.to_numpy(np.float64)
    geographic = crs if crs.is_geographic else crs.geodetic_crs
    if not crs.is_geographic:
        series = series.to_crs(geographic)
    geod = geographic.get_geod()
    return np.array(
        [
            0.0 if g is None or g.is_empty else abs(geod.geometry_area_perimeter(g)[0])
            for g in series
        ],
        dtype=np.float64,
    )


def _frame(records: Sequence, crs):
    import geopandas as gpd

    from dstl_hpc.sources.geo.labels import to_pyproj

    rows = [r if isinstance(r, Record) else Record(**r) for r in records]
    crs = to_pyproj(crs)
    geoms = [r.geometry for r in rows]
    data = {
        "class_id": np.array([r.class_id for r in rows], np.int32),
        "class_name": np.array([r.class_name for r in rows], dtype=object),
        "scene_id": np.array([r.scene_id for r in rows], dtype=object),
        "area_m2": area_m2(geoms, crs),
        "mean_prob": np.array([r.mean_prob for r in rows], np.float64),
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _check_driver(driver: str) -> str:
    if driver not in DRIVERS:
        raise DstlError(f"polygon format {driver!r}: choose one of {', '.join(DRIVERS)}")
    return driver


def _write_frame(gdf, out_path, driver: str, layer: str) -> None:
    import pyogrio

    kinds = set(gdf.geom_type.dropna()) if len(gdf) else set()
    geometry_type = "MultiPolygon" if "MultiPolygon" in kinds else "Polygon"
    with atomic_path(out_path, suffix=DRIVERS[driver]) as tmp:
        os.unlink(tmp)  # the drivers create their own file
        pyogrio.write_dataframe(
            gdf,
            tmp,
            driver=driver,
            layer=layer,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type == "MultiPolygon",
        )


def write_polygons(
    out_path,
    records: Sequence,
    crs,
    driver: str = "GPKG",
    layer: str = LAYER,
    out_crs=None,
) -> int:
    """Write ``records`` (:class:`Record` s or dicts with its fields; geometries in
    ``crs``) to ``out_path`` (one layer ``layer``; GeoJSON has no layer name), reprojected
    to ``out_crs`` when given. ``area_m2`` is computed in ``crs``. Returns the count."""
    _check_driver(driver)
    gdf = _frame(records, crs)
    if out_crs is not None:
        from dstl_hpc.sources.geo.labels import to_pyproj

        gdf = gdf.to_crs(to_pyproj(out_crs))
    _write_frame(gdf, out_path, driver, layer)
    return len(gdf)


def merge_polygons(inputs: Sequence, out_path, driver: str = "GPKG", crs=None) -> int:
    """Gather the polygon files of all scenes into one layer ``polygons`` at ``out_path``,
    in ``crs`` when given, else in the first input's CRS (inputs in other CRSs need
    ``crs``). Returns the number of polygons."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    from dstl_hpc.sources.geo.labels import to_pyproj

    _check_driver(driver)
    if not inputs:
        raise DstlError(f"{out_path}: no polygon file to merge")
    target = to_pyproj(crs) if crs is not None else None
    frames = []
    first = None
    for path in inputs:
        if not os.path.exists(path):
            raise DstlError(f"{path}: polygon file not found")
        try:
            gdf = pyogrio.read_dataframe(path)
        except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
            raise DstlError(f"{path}: cannot read polygon file ({exc})") from None
        if gdf.crs is None:
            raise DstlError(f"{path}: polygon file has no CRS")
        if target is None:
            if first is None:
                first = (path, gdf.crs)
            elif not gdf.crs.equals(first[1], ignore_axis_order=True):
                raise DstlError(
                    f"{path}: CRS {gdf.crs.name!r} differs from {first[0]}'s "
                    f"{first[1].name!r}; set an output CRS to merge them"
                )
        else:
            gdf = gdf.to_crs(target)
        frames.append(gdf)
    out_crs = target if target is not None else first[1]
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=out_crs)
    missing = [c for c in COLUMNS if c not in merged.columns]
    if missing:
        raise DstlError(f"{out_path}: inputs lack the column(s) {', '.join(missing)}")
    merged = merged[[*COLUMNS, "geometry"]]
    _write_frame(merged, out_path, driver, LAYER)
    return len(merged)
