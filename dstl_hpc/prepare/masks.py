"""Training masks: an image's polygons (grid coordinates) -> 10 uint8 planes at RGB size."""

from __future__ import annotations

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


def image_mask(layout: Layout, image_id: str, pre_buffer: dict[int, float] | None = None):
    """The mask of one training image of a DSTL data directory."""
    polygons = image_polygons(layout.train_wkt, image_id)
    return polygons_to_mask(
        polygons,
        image_size(layout, image_id),
        grid_of(layout, image_id),
        pre_buffer,
        where=f"{layout.train_wkt}, image {image_id}",
    )
