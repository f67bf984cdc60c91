"""Vector labels in any CRS -> per-class geometries of a scene -> masks of a window.

:func:`read_labels` reads one or more vector files (any format OGR reads: GeoPackage,
Shapefile, GeoJSON, ...; the first layer with geometries, or ``path::layer`` to choose
one), keeps each file in its own CRS, maps the values of ``class_field`` to class numbers
1..N (the order of ``classes``), repairs invalid geometries (``shapely.make_valid``,
polygonal parts kept) and drops non-polygonal ones (points, lines) and features whose
value maps to no class, each with one WARNING per file that gives the counts.

:meth:`Labels.for_scene` reprojects the features near a scene to the scene's CRS
(``GeoDataFrame.to_crs``) and clips them to its bounds; :func:`rasterize_window` burns them
into a window with ``rasterio.features.rasterize`` (a pixel belongs to a polygon when its
centre is inside, ``all_touched=False``). :func:`read_area` reads the optional
labelled-area polygons (where the labels are complete) and :func:`known_window` turns them
and the window's ``valid`` pixels into the ``known`` mask.

User errors (missing, unreadable or empty file, no CRS, a missing ``class_field``, no
feature mapped to a class) are one-line :class:`DstlError` naming the file.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

log = logging.getLogger(__name__)

LAYER_SEP = "::"
_SHOWN_VALUES = 20  # distinct values listed in a message before "... and K more"


# ---------------------------------------------------------------------------- helpers


def to_pyproj(crs):
    """A pyproj CRS from WKT, an EPSG code, a rasterio CRS or a pyproj CRS."""
    from pyproj import CRS

    if crs is None:
        raise ValueError("a CRS is required")
    return CRS.from_user_input(crs)


def split_layer(path) -> tuple[str, str | None]:
    """``"file.gpkg::roads"`` -> ("file.gpkg", "roads"); a plain path -> (path, None)."""
    text = os.fspath(path)
    if LAYER_SEP in text:
        base, layer = text.rsplit(LAYER_SEP, 1)
        return base, layer or None
    return text, None


def _as_list(paths) -> list:
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)


def polygonal(geom):
    """The polygonal part of a geometry (a Polygon or MultiPolygon; empty when none)."""
    import shapely
    from shapely.geometry import MultiPolygon

    if geom is None or geom.is_empty:
        return MultiPolygon()
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        return geom
    if kind == "GeometryCollection":
        parts = []
        for g in geom.geoms:
            p = polygonal(g)
            if not p.is_empty:
                parts.extend(getattr(p, "geoms", [p]))
        if not parts:
            return MultiPolygon()
        return parts[0] if len(parts) == 1 else shapely.union_all(parts)
    return MultiPolygon()


def _describe(counter: Counter) -> str:
    items = counter.most_common()
    shown = ", ".join(f"{value!r} {n}" for value, n in items[:_SHOWN_VALUES])
    if len(items) > _SHOWN_VALUES:
        shown += f", ... and {len(items) - _SHOWN_VALUES} more values"
    return shown


def _value_key(value) -> str | None:
    """A comparable key for a field value: 3, 3.0, np.int64(3) and "3" are all "3"."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def _read_layer(path, what: str):
    """(path text, GeoDataFrame) of a vector file's layer, with the one-line errors."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    base, layer = split_layer(path)
    where = os.fspath(path)
    if not base.startswith("/vsi") and not os.path.exists(base):
        raise DstlError(f"{where}: {what} file not found")
    if not base.startswith("/vsi") and not os.path.isdir(base):  # a FileGDB is a folder
        check_regular(base)  # a FIFO or device would block OGR forever
    try:
        layers = pyogrio.list_layers(base)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise DstlError(f"{where}: cannot read {what} file ({_one_line(exc)})") from None
    spatial = [str(name) for name, kind in layers if kind is not None]
    if layer is None:
        if not spatial:
            raise DstlError(f"{where}: no layer with geometries in this {what} file")
        layer = spatial[0]
        if len(spatial) > 1:
            log.warning(
                "%s: %d layers with geometries (%s); reading the first, %r (choose one with "
                "'path%slayer')",
                where, len(spatial), ", ".join(spatial), layer, LAYER_SEP,
            )  # fmt: skip
    elif layer not in [str(name) for name, _ in layers]:
        names = ", ".join(str(name) for name, _ in layers) or "none"
        raise DstlError(f"{where}: no layer {layer!r} (layers: {names})")
    try:
        gdf = pyogrio.read_dataframe(base, layer=layer)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise DstlError(f"{where}: cannot read {what} file ({_one_line(exc)})") from None
    if "geometry" not in getattr(gdf, "columns", []):
        raise DstlError(f"{where}: layer {layer!r} has no geometries")
    if len(gdf) == 0:
        raise DstlError(f"{where}: {what} file has no features")
    if gdf.crs is None:
        raise DstlError(f"{where}: {what} file has no CRS (set one, e.g. with ogr2ogr -a_srs)")
    return where, gdf


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _clean_polygons(gdf, where: str):
    """(gdf of the polygonal features, made valid) with one WARNING for repairs and
    one for drops."""
    import shapely

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = np.array([g is None or g.is_empty for g in geoms], dtype=bool)
    kinds = np.array([None if m else g.geom_type for g, m in zip(geoms, missing, strict=True)])
    poly = np.isin(kinds, ["Polygon", "MultiPolygon"])
    dropped = Counter(str(k) for k in kinds[~poly & ~missing])
    if missing.any():
        dropped["empty or null"] = int(missing.sum())
    if dropped:
        log.warning(
            "%s: %d non-polygonal feature(s) dropped (%s): labels must be polygons",
            where, sum(dropped.values()), ", ".join(f"{k} {n}" for k, n in dropped.items()),
        )  # fmt: skip
    gdf = gdf.loc[poly].copy()
    if len(gdf) == 0:
        return gdf
    values = np.asarray(gdf.geometry.values, dtype=object)
    values = shapely.force_2d(values)
    invalid = ~shapely.is_valid(values)
    if invalid.any():
        fixed = [polygonal(shapely.make_valid(g)) for g in values[invalid]]
        values[invalid] = np.array(fixed, dtype=object)
        log.warning(
            "%s: %d invalid geometr%s repaired (make_valid, polygonal parts kept)",
            where, int(invalid.sum()), "y" if invalid.sum() == 1 else "ies",
        )  # fmt: skip
    gdf = gdf.set_geometry(values, crs=gdf.crs)
    return gdf.loc[~shapely.is_empty(values)]


def _candidates(gdf, crs, bounds):
    """The rows of ``gdf`` (own CRS) that may intersect ``bounds`` (in ``crs``), reprojected
    to ``crs`` and clipped to the bounds: (class ids or None, geometries)."""
    import shapely
    from rasterio.warp import transform_bounds
    from shapely.geometry import box

    target = to_pyproj(crs)
    scene_box = box(*bounds)
    if gdf.crs is not None and not gdf.crs.equals(target):
        try:
            own = transform_bounds(target.to_wkt(), gdf.crs.to_wkt(), *bounds, densify_pts=21)
            ok = all(math.isfinite(v) for v in own)
        except Exception:  # noqa: BLE001 - out of the CRS's area of use: test every feature
            ok = False
        sub = gdf.iloc[gdf.sindex.query(box(*own), predicate="intersects")] if ok else gdf
        sub = sub.to_crs(target)
    else:
        sub = gdf
    sub = sub.iloc[sub.sindex.query(scene_box, predicate="intersects")]
    geoms = shapely.intersection(np.asarray(sub.geometry.values, dtype=object), scene_box)
    geoms = np.array([polygonal(g) for g in geoms], dtype=object)
    keep = ~shapely.is_empty(geoms) if len(geoms) else np.zeros(0, bool)
    ids = sub["class_id"].to_numpy()[keep] if "class_id" in sub.columns else None
    return ids, geoms[keep]


# ----------------------------------------------------------------------------- labels


@dataclass
class Labels:
    """Class-labelled polygons of one or more files, each kept in its own CRS.

    ``frames``: (file, GeoDataFrame with an int ``class_id`` column 1..N and polygonal
    geometries) per file; ``classes``: the class names, class k is ``classes[k - 1]``.
    """

    classes: list[str]
    frames: list[tuple[str, object]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Features per class name, over all files."""
        out = dict.fromkeys(self.classes, 0)
        for _, gdf in self.frames:
            for k, n in Counter(gdf["class_id"].tolist()).items():
                out[self.classes[int(k) - 1]] += int(n)
        return out

    def for_scene(self, crs, bounds) -> list:
        """One geometry per class (index 0 = class 1; an empty MultiPolygon where none),
        in the scene's ``crs``, clipped to ``bounds`` (left, bottom, right, top)."""
        import shapely

        parts: list[list] = [[] for _ in self.classes]
        for _, gdf in self.frames:
            ids, geoms = _candidates(gdf, crs, bounds)
            for k, g in zip(ids, geoms, strict=True):
                parts[int(k) - 1].append(g)
        return [polygonal(shapely.union_all(p)) if p else polygonal(None) for p in parts]

    def scene_overlaps(self, crs, bounds) -> bool:
        """Whether any labelled polygon has area inside the scene's ``bounds``."""
        return any(len(_candidates(gdf, crs, bounds)[1]) for _, gdf in self.frames)


def _class_lookup(class_map, classes: Sequence[str]) -> dict[str, int]:
    """field value key -> class number 1..N. A class missing from ``class_map`` matches
    the field value equal to its own name."""
    class_map = dict(class_map or {})
    unknown = [name for name in class_map if name not in classes]
    if unknown:
        raise DstlError(
            f"class_map: {', '.join(map(repr, unknown))} not among the classes "
            f"({', '.join(classes)})"
        )
    lookup: dict[str, int] = {}
    for k, name in enumerate(classes, start=1):
        values = class_map.get(name, [name])
        if isinstance(values, (str, int, float)):
            values = [values]
        for value in values:
            key = _value_key(value)
            if key in lookup and lookup[key] != k:
                raise DstlError(
                    f"class_map: value {value!r} is listed for both "
                    f"{classes[lookup[key] - 1]!r} and {name!r}"
                )
            lookup[key] = k
    return lookup


def read_labels(paths, class_field: str, class_map: dict | None, classes: Sequence[str]) -> Labels:
    """Read labelled polygons from one or more vector files (``path`` or ``path::layer``).

    ``class_map``: class name -> the ``class_field`` values that mean it (a class missing
    from it matches its own name). Features whose value maps to no class are ignored (one
    WARNING per file, with counts per value).
    """
    classes = [str(c) for c in classes]
    files = _as_list(paths)
    if not files:
        raise DstlError("labels: no label file given")
    lookup = _class_lookup(class_map, classes)
    frames = []
    for path in files:
        where, gdf = _read_layer(path, "label")
        if class_field not in gdf.columns:
            fields = ", ".join(str(c) for c in gdf.columns if c != "geometry") or "none"
            raise DstlError(f"{where}: no field {class_field!r} (fields: {fields})")
        keys = [_value_key(v) for v in gdf[class_field].tolist()]
        ids = np.array([lookup.get(k, 0) if k is not None else 0 for k in keys], dtype=np.int32)
        unmapped = Counter(
            ("<null>" if k is None else v)
            for k, v, i in zip(keys, gdf[class_field].tolist(), ids, strict=True)
            if i == 0
        )
        if not ids.any():
            raise DstlError(
                f"{where}: no feature's {class_field!r} maps to a class "
                f"(values: {_describe(unmapped)}; set data.class_map)"
            )
        if unmapped:
            log.warning(
                "%s: %d feature(s) ignored, their %r maps to no class: %s",
                where, sum(unmapped.values()), class_field, _describe(unmapped),
            )  # fmt: skip
        gdf = gdf.loc[ids > 0, ["geometry"]].assign(class_id=ids[ids > 0])
        gdf = _clean_polygons(gdf, where)
        if len(gdf) == 0:
            raise DstlError(f"{where}: no polygon among the features that map to a class")
        frames.append((where, gdf[["class_id", "geometry"]].reset_index(drop=True)))
    return Labels(classes=classes, frames=frames)


# ------------------------------------------------------------------------------- area


@dataclass
class AreaSource:
    """Labelled-area polygons (where labels are complete), each file in its own CRS.
    With no file, labels are complete everywhere."""

    frames: list[tuple[str, object]] = field(default_factory=list)

    def for_scene(self, crs, bounds):
        """The labelled area inside the scene's ``bounds`` in its ``crs`` (a Polygon or
        MultiPolygon, empty where the area misses the scene), or None: everywhere."""
        import shapely

        if not self.frames:
            return None
        parts = []
        for _, gdf in self.frames:
            parts.extend(_candidates(gdf, crs, bounds)[1])
        return polygonal(shapely.union_all(parts)) if parts else polygonal(None)


def read_area(paths) -> AreaSource:
    """Read labelled-area polygons (no class field); no path: everywhere."""
    frames = []
    for path in _as_list(paths):
        where, gdf = _read_layer(path, "labelled-area")
        gdf = _clean_polygons(gdf[["geometry"]], where)
        if len(gdf) == 0:
            raise DstlError(f"{where}: no polygon in this labelled-area file")
        frames.append((where, gdf.reset_index(drop=True)))
    return AreaSource(frames=frames)


# -------------------------------------------------------------------------- rasterise


def _burn(geom, transform, shape) -> np.ndarray:
    from rasterio.features import rasterize

    out = np.zeros(tuple(int(s) for s in shape), np.uint8)
    if geom is None:
        return out
    geoms = [geom] if not isinstance(geom, (list, tuple)) else list(geom)
    shapes = [(g, 1) for g in geoms if g is not None and not g.is_empty]
    if shapes and out.size:
        rasterize(shapes, out=out, transform=transform, all_touched=False, default_value=1)
    return out


def rasterize_window(geoms_per_class: Iterable, transform, shape) -> np.ndarray:
    """uint8 (N, h, w) 0/1 masks of a window: pixel (r, c) of class k is 1 when its centre
    is inside class k's geometry (a geometry or a list of them, in the window's CRS);
    ``transform``: the window's affine transform (``rasterio.windows.transform``)."""
    layers = [_burn(g, transform, shape) for g in geoms_per_class]
    if not layers:
        return np.zeros((0, *(int(s) for s in shape)), np.uint8)
    return np.stack(layers)


def known_window(area_geom, valid: np.ndarray, transform) -> np.ndarray:
    """uint8 (h, w): 1 where the labels are complete (inside ``area_geom``; None =
    everywhere) and the pixel is ``valid``."""
    valid = np.asarray(valid).astype(bool)
    if area_geom is None:
        return valid.astype(np.uint8)
    inside = _burn(area_geom, transform, valid.shape).astype(bool)
    return (inside & valid).astype(np.uint8)
