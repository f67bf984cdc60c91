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

The rooms, in the order a dataset goes through them:

- :mod:`.dataset`: what the dataset holds (CRS, resolutions, bands, classes and their
  label values, layers, scene ids, splits and file names);
- :mod:`.layout`: one scene's features in map coordinates, with the geometry of
  :mod:`.shapes`;
- :mod:`.paint`: the scene's bands painted from its layout; :mod:`.materials` holds the
  spectra;
- :mod:`.formats`: the raster formats written (JPEG 2000 probed once);
  :mod:`.vectors`: the label and labelled-area GeoPackages;
- :mod:`.write`: the folder, written beside ``out_dir`` and renamed onto it
  (:func:`write_geo_dataset`).
"""

from dstl_hpc.sources.geo.synthetic.dataset import (
    AREA_LAYER,
    CLASS_FIELD,
    COARSE_BANDS,
    COARSE_RES,
    CRS,
    FINE_BANDS,
    FINE_RES,
    GENERATOR,
    KINDS,
    LABEL_CRS,
    LABELS_LAYER,
    MIN_SIZE,
    UNMAPPED,
    VALUES,
    scene_files,
    scene_ids,
    scene_splits,
)
from dstl_hpc.sources.geo.synthetic.formats import coarse_driver
from dstl_hpc.sources.geo.synthetic.write import write_geo_dataset

__all__ = [
    "AREA_LAYER",
    "CLASS_FIELD",
    "COARSE_BANDS",
    "COARSE_RES",
    "CRS",
    "FINE_BANDS",
    "FINE_RES",
    "GENERATOR",
    "KINDS",
    "LABELS_LAYER",
    "LABEL_CRS",
    "MIN_SIZE",
    "UNMAPPED",
    "VALUES",
    "coarse_driver",
    "scene_files",
    "scene_ids",
    "scene_splits",
    "write_geo_dataset",
]
