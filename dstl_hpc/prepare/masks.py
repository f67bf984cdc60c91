"""Training masks: an image's polygons (grid coordinates) -> 10 uint8 planes at RGB size.

A training polygon that lies outside its image's grid extent (``0 <= x <= Xmax``,
``Ymin <= y <= 0``) is rasterised to nothing (wholly outside: dropped) or in part
(clipped). Such polygons are counted per class (``outside_extent``), warned about per
image and class, and recorded in the mask file's ``dropped_polygons`` attribute. A
polygon counts when more than ``OUTSIDE_TOLERANCE`` (1 %) of its area is outside:
rounding at the edge does not.
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np

from dstl_hpc.polygons import repair
from dstl_hpc.prepare.raster import rasterize
from dstl_hpc.sources.dstl import (
    CLASS_TYPES,
    Layout,
    grid_of,
    grid_to_pixels,
    image_polygons,
    image_size,
)

log = logging.getLogger(__name__)


def polygons_to_mask(
    polygons: dict[int, object],
    shape: tuple[int, int],
    grid: tuple[float, float],
    pre_buffer: dict[int, float] | None = None,
    where: str = "polygons",
) -> np.ndarray:
    """(10, H, W) uint8 from ClassType -> MultiPolygon in grid coordinates.

    Exteriors are filled and holes cleared (pixel-centre rule of ``raster``);
    ``pre_buffer[k]`` grows class k's polygons by that many pixels first. Invalid
    polygons (self-intersections) are repaired first with ``make_valid`` (all polygonal
    parts kept: both halves of a bow-tie), with a warning naming ``where`` and the class.
    """
    height, width = shape
    xmax, ymin = grid
    pre_buffer = pre_buffer or {}
    mask = np.zeros((len(CLASS_TYPES), height, width), np.uint8)
    for ct, geom in polygons.items():
        if geom.is_empty:
            continue
        px = grid_to_pixels(geom, width, height, xmax, ymin)
        if not px.is_valid:
            px = _repaired(px, f"{where}, class {ct}")
        grow = float(pre_buffer.get(ct, 0.0))
        if grow:
            px = px.buffer(grow, join_style="mitre")
        mask[ct - 1] = rasterize(px, (height, width))
    return mask


def _repaired(geom, where: str):
    import shapely

    log.warning("%s: invalid polygon repaired (%s)", where, shapely.is_valid_reason(geom))
    return repair(geom)


# A polygon with more than this fraction of its area outside the grid extent is counted
# (dropped or clipped); less is rounding at the edge.
OUTSIDE_TOLERANCE = 0.01


def outside_extent(polygons: dict[int, object], grid: tuple[float, float]) -> dict[str, dict]:
    """str(ClassType) -> {"polygons", "dropped", "clipped", "area_outside"} of the classes
    with a polygon more than ``OUTSIDE_TOLERANCE`` of whose area lies outside the grid
    extent: how many polygons the class has, how many lie wholly outside (dropped) and
    partly (clipped), and the fraction of the class's polygon area outside."""
    import shapely
    from shapely.geometry import box

    xmax, ymin = grid
    extent = box(0.0, float(ymin), float(xmax), 0.0)
    out = {}
    for ct, geom in polygons.items():
        if geom.is_empty:
            continue
        parts = shapely.get_parts(repair(geom))  # invalid rings cannot be intersected
        areas = shapely.area(parts)
        inside = shapely.area(shapely.intersection(parts, extent))
        lost = np.clip(areas - inside, 0.0, None)
        counted = lost > OUTSIDE_TOLERANCE * areas
        if not counted.any():
            continue
        dropped = int(np.sum(counted & (inside <= 0.0)))
        out[str(ct)] = {
            "polygons": len(parts),
            "dropped": dropped,
            "clipped": int(counted.sum()) - dropped,
            "area_outside": round(float(lost.sum() / max(areas.sum(), 1e-300)), 6),
        }
    return out


def warn_outside(where: str, outside: dict[str, dict], grid: tuple[float, float]) -> None:
    """One warning per class of ``outside_extent``, naming ``where`` (file and image)."""
    for ct, n in outside.items():
        log.warning(
            "%s, class %s: %d of %d polygon(s) outside the image's grid extent (Xmax %g, "
            "Ymin %g): %d dropped, %d clipped; %.1f%% of the class's polygon area lost",
            where, ct, n["dropped"] + n["clipped"], n["polygons"], grid[0], grid[1],
            n["dropped"], n["clipped"], 100.0 * n["area_outside"],
        )  # fmt: skip


def image_labels(layout: Layout, image_id: str, pre_buffer: dict[int, float] | None = None):
    """(mask, ``outside_extent`` counts) of one training image of a DSTL data directory;
    the polygons outside the image's grid extent warned about."""
    polygons = image_polygons(layout.train_wkt, image_id)
    grid = grid_of(layout, image_id)
    where = f"{layout.train_wkt}, image {image_id}"
    outside = outside_extent(polygons, grid)
    warn_outside(where, outside, grid)
    mask = polygons_to_mask(polygons, image_size(layout, image_id), grid, pre_buffer, where)
    return mask, outside


def image_mask(layout: Layout, image_id: str, pre_buffer: dict[int, float] | None = None):
    """The mask of one training image of a DSTL data directory."""
    return image_labels(layout, image_id, pre_buffer)[0]


def write_image_mask(path, mask, image_id: str, pre_buffer, outside: dict[str, dict]) -> None:
    """``prepare.stacks.write_mask`` with the ``dropped_polygons`` attribute (JSON of
    ``outside_extent``; ``{}``: none), built in memory and written in one piece."""
    import h5py

    from dstl_hpc.atomic import atomic_path
    from dstl_hpc.prepare.stacks import write_mask

    with atomic_path(path, suffix=".h5") as tmp:
        write_mask(tmp, mask, image_id, pre_buffer)
        buffer = io.BytesIO(tmp.read_bytes())
        with h5py.File(buffer, "r+") as h5:
            h5.attrs["dropped_polygons"] = json.dumps(outside, sort_keys=True)
        tmp.write_bytes(buffer.getbuffer())
