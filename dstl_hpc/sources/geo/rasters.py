"""The raster side of a geo scene, its public names in one place: its files, its grid,
its chips' windows and their pixels.

- ``dstl_hpc.sources.geo.grid``: ``SceneFile``, ``SceneGrid``, ``open_raster``,
  ``inspect_files``, ``scene_grid`` (the files and the pixel grid they are read on);
- ``dstl_hpc.sources.geo.reader``: ``SceneReader``, ``read_window`` (windows of the grid
  read from every file, with where they hold data);
- ``dstl_hpc.sources.geo.bands``: ``band_signature``, ``check_same_bands`` (the scenes
  agree on their bands);
- ``dstl_hpc.sources.geo.shifts``: ``estimate_file_shifts`` (the files' misregistration);
- ``dstl_hpc.sources.geo.chips``: ``chip_windows``.
"""

from dstl_hpc.sources.geo.bands import band_signature, check_same_bands
from dstl_hpc.sources.geo.chips import chip_windows
from dstl_hpc.sources.geo.grid import (
    SceneFile,
    SceneGrid,
    as_window,
    inspect_files,
    open_raster,
    scene_grid,
)
from dstl_hpc.sources.geo.reader import NATIVE_DTYPES, SceneReader, read_window
from dstl_hpc.sources.geo.shifts import ALIGN_SIDE, estimate_file_shifts

__all__ = [
    "ALIGN_SIDE",
    "NATIVE_DTYPES",
    "SceneFile",
    "SceneGrid",
    "SceneReader",
    "as_window",
    "band_signature",
    "check_same_bands",
    "chip_windows",
    "estimate_file_shifts",
    "inspect_files",
    "open_raster",
    "read_window",
    "scene_grid",
]
