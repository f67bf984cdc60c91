"""What the synthetic geo dataset holds: its CRS and resolutions, bands, classes and their
label values, layers, and the scene ids, splits and file names."""

from __future__ import annotations

GENERATOR = "dstl_hpc.sources.geo.synthetic"
CRS = "EPSG:32631"
LABEL_CRS = "EPSG:4326"
FINE_RES = 2.0
COARSE_RES = 4.0
FINE_BANDS = ("blue", "green", "red", "nir")
COARSE_BANDS = ("swir1", "swir2")
CLASS_FIELD = "landuse"
LABELS_LAYER = "labels"
AREA_LAYER = "labelled_area"
KINDS = ("building", "road", "water", "trees")
# The label values of each class (what a config maps) and the one value mapped to none.
VALUES = {
    "building": ("Building",),
    "road": ("Road",),
    "water": ("Water",),
    "trees": ("Trees", "Woodland"),
}
UNMAPPED = "Parking"
MIN_SIZE = 128


def scene_ids(scenes: int) -> list[str]:
    """The scene ids of a dataset of ``scenes`` scenes."""
    return [f"scene{k + 1}" for k in range(scenes)]


def scene_splits(scenes: int) -> list[str]:
    """The splits, in scene order: train, ..., train, validation, test."""
    return ["train"] * (scenes - 2) + ["validation", "test"]


def scene_files(scene: str, coarse_driver: str) -> list[str]:
    """The raster files of ``scene``, relative to the dataset folder."""
    ext = "jp2" if coarse_driver == "JP2OpenJPEG" else "tif"
    return [f"rasters/{scene}_fine.tif", f"rasters/{scene}_coarse.{ext}"]
