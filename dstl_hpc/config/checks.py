"""The data checked before any job: ids, image files and grid rows (``Plan``).
No heavy imports."""

from __future__ import annotations

import re

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.dstl import Layout, read_grid_sizes

# Image ids become file names and Snakemake wildcard values.
ID_PATTERN = re.compile(r"[A-Za-z0-9_]+")


def _some(items: list, n: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def check_layout(layout: Layout, train_ids: list[str], test_ids: list[str]) -> None:
    """Errors before GPU hours: every id has its TIFFs and a grid_sizes.csv row."""
    for ids, path in ((train_ids, layout.train_wkt), (test_ids, layout.sample_submission)):
        if not ids:
            raise DstlError(f"{path}: no image ids (an empty file?)")
        bad = [i for i in ids if not ID_PATTERN.fullmatch(i)]
        if bad:
            raise DstlError(
                f"{path}: image id(s) {_some([repr(i) for i in bad])} hold characters other "
                "than letters, digits and '_'"
            )
    ids = list(dict.fromkeys(train_ids + test_ids))
    missing = [str(f) for i in ids for f in layout.image_files(i) if not f.is_file()]
    if missing:
        raise DstlError(f"{layout.root}: {len(missing)} image file(s) missing: {_some(missing)}")
    grids = read_grid_sizes(layout.grid_sizes)
    no_grid = [i for i in ids if i not in grids]
    if no_grid:
        raise DstlError(f"{layout.grid_sizes}: no row for {len(no_grid)} id(s): {_some(no_grid)}")
