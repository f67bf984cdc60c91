"""Valid MultiPolygons: the polygonal parts of any geometry, repaired, and written as
WKT with 8 decimals in fixed notation (as the reference's shapely 1 ``dumps``)."""

from __future__ import annotations

import logging

log = logging.getLogger("dstl_hpc.polygons")

EMPTY_WKT = "MULTIPOLYGON EMPTY"
DECIMALS = 8


def polygonal(geom):
    """The polygonal parts of ``geom`` as a MultiPolygon (lines and points dropped)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polys = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty:
            polys.append(part)
        elif isinstance(part, MultiPolygon) or part.geom_type == "GeometryCollection":
            polys.extend(polygonal(part).geoms)
    if not polys:
        return MultiPolygon()
    mp = MultiPolygon(polys)
    if not mp.is_valid:  # parts of a collection may overlap
        mp = polygonal(shapely.union_all(polys))
    return mp


def repair(geom):
    """A valid MultiPolygon covering ``geom``'s polygonal area; never raises on bad rings."""
    import shapely

    mp = polygonal(geom)
    if mp.is_empty or mp.is_valid:
        return mp
    fixed = polygonal(shapely.make_valid(mp))
    if not fixed.is_valid:  # should not happen; buffer(0) as the last resort
        fixed = polygonal(fixed.buffer(0))
    return fixed


def _format_wkt(mp) -> str:
    """Fixed notation with exactly 8 decimals (as the reference's shapely 1 ``dumps``)."""
    import shapely

    if mp.is_empty:
        return EMPTY_WKT
    text = shapely.to_wkt(mp, rounding_precision=DECIMALS, trim=False)
    # negative zero (y = 0 scaled by Ymin < 0): every token has exactly 8 decimals
    return text.replace("-0." + "0" * DECIMALS, "0." + "0" * DECIMALS)


def to_wkt(geom) -> str:
    """MULTIPOLYGON WKT, 8 decimals in fixed notation; checked to parse and be valid."""
    import shapely

    mp = repair(geom)
    text = _format_wkt(mp)
    if mp.is_empty:
        return text
    for attempt in range(2):
        back = shapely.from_wkt(text)
        if back.is_valid:
            return text
        if attempt == 0:  # rounding to 8 decimals broke validity: repair the rounded geometry
            text = _format_wkt(repair(back))
    log.warning("WKT still invalid after rounding and repair; written as it is")
    return text
