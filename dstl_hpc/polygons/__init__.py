"""Probability maps -> polygons -> WKT, and the polygon CSVs.

The parts: :mod:`~dstl_hpc.polygons.trace` (a mask -> the exact union of its pixel
squares, simplified with ``approxPolyDP`` and ``min_area`` as the reference solution;
its docstring has the pixel convention), :mod:`~dstl_hpc.polygons.geometry` (valid
MultiPolygons, WKT with 8 decimals in fixed notation), :mod:`~dstl_hpc.polygons.files`
(prediction planes, polygon CSVs). Grid coordinates come from
``dataset.pixels_to_grid``.

Torch is never imported here.
"""

from dstl_hpc.polygons.files import (
    HEADER,
    check_threshold,
    gather,
    prediction_group,
    read_prediction_plane,
    read_rows,
    write_rows,
)
from dstl_hpc.polygons.geometry import DECIMALS, EMPTY_WKT, polygonal, repair, to_wkt
from dstl_hpc.polygons.trace import mask_to_polygons, prob_to_grid_polygons

__all__ = [
    "DECIMALS",
    "EMPTY_WKT",
    "HEADER",
    "check_threshold",
    "gather",
    "mask_to_polygons",
    "polygonal",
    "prob_to_grid_polygons",
    "read_prediction_plane",
    "read_rows",
    "prediction_group",
    "repair",
    "to_wkt",
    "write_rows",
]
