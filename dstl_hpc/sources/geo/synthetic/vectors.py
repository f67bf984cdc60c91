"""The synthetic geo dataset's vector files: labels.gpkg and labelled_area.gpkg in
EPSG:4326, with a fixed write date (the same seed gives the same bytes)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dstl_hpc.sources.geo.synthetic.dataset import (
    AREA_LAYER,
    CLASS_FIELD,
    CRS,
    LABEL_CRS,
    LABELS_LAYER,
)

# The fixed date GDAL writes into the GeoPackages (their bytes depend only on the seed).
_GPKG_DATE = "2000-01-01T00:00:00.000Z"


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


def write_vectors(root: Path, label_rows, area_rows) -> dict:
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
