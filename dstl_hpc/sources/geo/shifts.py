"""The misregistration of a geo scene's files: how far each file's content is off the
first file's, estimated on the grid's centre (``data.align``; ``SceneReader`` corrects it
while reading)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import numpy as np
from rasterio.windows import Window

from dstl_hpc.sources.geo.grid import SceneGrid, band_file
from dstl_hpc.sources.geo.reader import FileReader

ALIGN_SIDE = 1024  # px of the grid's centre where file shifts are estimated


def estimate_file_shifts(files: Sequence, grid: SceneGrid) -> list[list[float] | None]:
    """Per file after the first: [dx, dy, cc], the displacement (grid pixels) of its
    content relative to the first file's, by phase correlation and ECC on the mean of
    each file's bands over the grid's centre (``dstl_hpc.prepare.align.estimate``);
    None for the first file and where the estimate fails (logged)."""
    import logging

    from dstl_hpc.prepare.align.estimate import estimate_shift
    from dstl_hpc.prepare.align.options import AlignmentFailed

    h, w = min(ALIGN_SIDE, grid.height), min(ALIGN_SIDE, grid.width)
    window = Window((grid.width - w) // 2, (grid.height - h) // 2, w, h)
    out: list[list[float] | None] = [None]
    with ExitStack() as stack:
        readers = [FileReader(stack, band_file(f), grid) for f in files]
        greys = []
        for r in readers:
            data, valid = r.read(window)
            grey = data.astype(np.float32).mean(axis=0)
            grey[~valid] = float(grey[valid].mean()) if valid.any() else 0.0
            greys.append(grey)
        for r, grey in zip(readers[1:], greys[1:], strict=True):
            try:
                dx, dy, cc = estimate_shift(greys[0], grey)
            except AlignmentFailed as exc:
                logging.getLogger(__name__).warning("%s: not aligned (%s)", r.path, exc)
                out.append(None)
                continue
            out.append([round(float(dx), 3), round(float(dy), 3), round(float(cc), 4)])
    return out
