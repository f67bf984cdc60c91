"""WKT -> shapely MultiPolygons (checked), and the grid <-> pixel scaling of the
competition (docs/contracts.md)."""

from __future__ import annotations

from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.dstl.csvs import read_wkt_entries


def wkt_geometry(wkt: str, where: str = ""):
    """The shapely geometry of a WKT string, as written; DstlError naming ``where`` when
    it does not parse or has NaN / inf coordinates."""
    import numpy as np
    import shapely

    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates: checked below
            geom = shapely.from_wkt(wkt)
    except Exception as exc:  # shapely raises GEOSException
        raise DstlError(f"{where}: unparsable WKT ({str(exc).splitlines()[0]})") from None
    if geom is not None and not np.isfinite(shapely.get_coordinates(geom)).all():
        raise DstlError(f"{where}: non-finite coordinates (NaN or inf) in WKT")
    return geom


def as_multipolygon(geom, where: str = ""):
    """A MultiPolygon of a (Multi)Polygon or of a collection's polygons."""
    from shapely.geometry import MultiPolygon, Polygon

    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    if not polys:
        raise DstlError(f"{where}: WKT is a {geom.geom_type}, expected a MULTIPOLYGON")
    return MultiPolygon(polys)


def parse_wkt(wkt: str, where: str = ""):
    """Parse a MULTIPOLYGON / POLYGON WKT into a shapely MultiPolygon; errors name ``where``
    (unparsable, NaN / inf coordinates, not polygonal)."""
    return as_multipolygon(wkt_geometry(wkt, where), where)


def image_polygons(path: str | Path, image_id: str) -> dict[int, object]:
    """ClassType -> MultiPolygon (grid coordinates) for one image of a WKT CSV."""
    rows = read_wkt_entries(path)
    if image_id not in rows:
        raise DstlError(f"{path}: no polygons for image {image_id}")
    return {ct: parse_wkt(wkt, where) for ct, (wkt, where) in sorted(rows[image_id].items())}


# --------------------------------------------------------------------- scaling


def scalers(width: int, height: int, xmax: float, ymin: float) -> tuple[float, float]:
    """Factors (fx, fy) with x_px = x * fx, y_px = y * fy (the competition's convention).

    ``W' = W * W / (W + 1)``, ``fx = W' / Xmax``; ``H' = H * H / (H + 1)``, ``fy = H' / Ymin``
    (Ymin < 0, so pixel y is positive).
    """
    w_ = width * width / (width + 1.0)
    h_ = height * height / (height + 1.0)
    return w_ / xmax, h_ / ymin


def grid_to_pixels(geom, width: int, height: int, xmax: float, ymin: float):
    from shapely import affinity

    fx, fy = scalers(width, height, xmax, ymin)
    return affinity.scale(geom, xfact=fx, yfact=fy, origin=(0, 0, 0))


def pixels_to_grid(geom, width: int, height: int, xmax: float, ymin: float):
    from shapely import affinity

    fx, fy = scalers(width, height, xmax, ymin)
    return affinity.scale(geom, xfact=1.0 / fx, yfact=1.0 / fy, origin=(0, 0, 0))
