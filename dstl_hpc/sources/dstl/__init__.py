"""The DSTL data layout: file paths, readers, ids and the grid <-> pixel scaling.

Layout of a data directory (the competition's, or one made by ``dstl-hpc synth``)::

    three_band/{id}.tif             3 x H x W uint16 (R, G, B)
    sixteen_band/{id}_P.tif         H x W uint16 (panchromatic, RGB size)
    sixteen_band/{id}_M.tif         8 x ~H/4 x ~W/4 uint16
    sixteen_band/{id}_A.tif         8 x ~H/24 x ~W/24 uint16 (SWIR)
    grid_sizes.csv                  ImageId, Xmax, Ymin
    train_wkt_v4.csv                ImageId, ClassType, MultipolygonWKT (training polygons)
    sample_submission.csv           ImageId, ClassType, MultipolygonWKT (test ids)

Nothing here assumes one image size: every shape is read from the files. Nothing
heavy is imported with the package (numpy, shapely and tifffile are imported where
they are used), so that the workflow builds its DAG fast.

The parts: :mod:`~dstl_hpc.sources.dstl.layout` (class and channel names, file paths, the
synthetic ids), :mod:`~dstl_hpc.sources.dstl.csvs` (grid sizes, WKT CSVs, ids),
:mod:`~dstl_hpc.sources.dstl.geometry` (WKT parsing, grid <-> pixel scaling),
:mod:`~dstl_hpc.sources.dstl.images` (the TIFFs and their checks).
"""

from dstl_hpc.sources.dstl.csvs import (
    WKT_HEADER,
    grid_for,
    grid_of,
    open_csv,
    read_grid_sizes,
    read_ids,
    read_wkt_csv,
    read_wkt_entries,
    read_wkt_lines,
    test_ids,
    train_ids,
    wkt_where,
)
from dstl_hpc.sources.dstl.geometry import (
    as_multipolygon,
    grid_to_pixels,
    image_polygons,
    parse_wkt,
    pixels_to_grid,
    scalers,
    wkt_geometry,
)
from dstl_hpc.sources.dstl.images import (
    band_shape_problem,
    image_size,
    non_finite_count,
    read_band,
    read_rgb,
)
from dstl_hpc.sources.dstl.layout import (
    BAND_CHANNELS,
    BANDS,
    CHANNELS,
    CLASS_NAMES,
    CLASS_TYPES,
    DSTL_CLASSES,
    SEED_VALIDATION_IDS,
    Layout,
    synthetic_ids,
)

__all__ = [
    "BANDS",
    "BAND_CHANNELS",
    "CHANNELS",
    "CLASS_NAMES",
    "CLASS_TYPES",
    "DSTL_CLASSES",
    "SEED_VALIDATION_IDS",
    "WKT_HEADER",
    "Layout",
    "as_multipolygon",
    "band_shape_problem",
    "grid_for",
    "grid_of",
    "grid_to_pixels",
    "image_polygons",
    "image_size",
    "non_finite_count",
    "open_csv",
    "parse_wkt",
    "pixels_to_grid",
    "read_band",
    "read_grid_sizes",
    "read_ids",
    "read_rgb",
    "read_wkt_csv",
    "read_wkt_entries",
    "read_wkt_lines",
    "scalers",
    "synthetic_ids",
    "test_ids",
    "train_ids",
    "wkt_geometry",
    "wkt_where",
]
