"""Scene mosaics: a tile's neighbours give its edges real context.

DSTL ids are ``{scene}_{row}_{col}``: the 5 x 5 tiles of a scene are neighbours,
tile (r, c + 1) going on where tile (r, c) ends on the right. With the ``mosaic``
setting, prediction surrounds an image with ``margin`` pixels of its neighbours
(:func:`with_context`) instead of mirroring its own edge, predicts that, and keeps
the image's own pixels. Where a neighbour is missing (the scene's border, an id
that is not in the dataset), the margin stays mirrored as without mosaics.

:func:`neighbour_ids` is pure Python (the Snakefile uses it to add the neighbours'
stacks to a predict job's inputs); :func:`with_context` needs numpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

ID = re.compile(r"^(?P<scene>.+)_(?P<row>\d+)_(?P<col>\d+)$")

# (row step, col step) of the 8 neighbours.
STEPS = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0))


def tile_position(image_id: str) -> tuple[str, int, int] | None:
    """(scene, row, col) of a DSTL-style id, or None for any other id."""
    m = ID.match(image_id)
    return (m["scene"], int(m["row"]), int(m["col"])) if m else None


def neighbour_id(image_id: str, dr: int, dc: int) -> str | None:
    pos = tile_position(image_id)
    if pos is None or pos[1] + dr < 0 or pos[2] + dc < 0:
        return None
    return f"{pos[0]}_{pos[1] + dr}_{pos[2] + dc}"


def neighbour_ids(image_id: str, ids: Iterable[str]) -> list[str]:
    """The ids among ``ids`` of the (up to 8) tiles around ``image_id``."""
    known = set(ids)
    found = (neighbour_id(image_id, dr, dc) for dr, dc in STEPS)
    return [i for i in found if i is not None and i in known]


def with_context(image, image_id: str, read_strip: Callable, margin: int):
    """``image`` (C, H, W) surrounded by ``margin`` px: its neighbours' pixels where
    ``read_strip(neighbour_id, rows, cols)`` returns them (a (C, h, w) array of the
    neighbour's rows and cols slices, or None when there is no such tile), else the
    image's own edge mirrored (reflect-101). Returns (C, H + 2 margin, W + 2 margin)."""
    import numpy as np

    from dstl_hpc.predict.tiles import reflect_indices

    c, h, w = image.shape
    m = int(margin)
    rows = reflect_indices(-m, h + 2 * m, h)
    cols = reflect_indices(-m, w + 2 * m, w)
    out = image[:, rows][:, :, cols]
    for dr, dc in STEPS:
        nid = neighbour_id(image_id, dr, dc)
        if nid is None:
            continue
        # the neighbour's part that lies next to this image, in its own pixels
        src_r = slice(None, m) if dr == 1 else (slice(-m, None) if dr == -1 else slice(0, h))
        src_c = slice(None, m) if dc == 1 else (slice(-m, None) if dc == -1 else slice(0, w))
        strip = read_strip(nid, src_r, src_c)
        if strip is None:
            continue
        dst_r = {-1: slice(0, m), 0: slice(m, m + h), 1: slice(m + h, 2 * m + h)}[dr]
        dst_c = {-1: slice(0, m), 0: slice(m, m + w), 1: slice(m + w, 2 * m + w)}[dc]
        want = (dst_r.stop - dst_r.start, dst_c.stop - dst_c.start)
        got = strip[:, : want[0], : want[1]]  # a neighbour of another size: what there is
        # place it against the shared edge (a shorter strip leaves mirrored pixels)
        r0 = dst_r.start + (want[0] - got.shape[1] if dr == -1 else 0)
        c0 = dst_c.start + (want[1] - got.shape[2] if dc == -1 else 0)
        out[:, r0 : r0 + got.shape[1], c0 : c0 + got.shape[2]] = got
    return np.ascontiguousarray(out)
