"""The geo data source: georeferenced rasters and vector labels in any CRS."""
