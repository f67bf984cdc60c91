"""A mask -> polygons in pixel coordinates (:func:`mask_to_polygons`).

Pixel convention (see ``dstl_hpc.prepare.raster``): pixel (r, c) is the unit square
``[c, c+1) x [r, r+1)``. ``mask_to_polygons`` returns the exact union of the
mask's pixel squares (at ``epsilon`` 0), so that ``raster.rasterize`` gives the
same pixels back. It traces pixel *edges*, not pixel centres: the mask is
upsampled 2x (each pixel a 2x2 block), ``cv2.findContours`` (``RETR_CCOMP``:
outer contours and their holes) walks the boundary sub-pixels, and every
sub-pixel is mapped to the corner of its pixel that it sits in
(``corner = ceil(sub / 2)``). Blocks are two sub-pixels wide, so 1-pixel lines
and single pixels keep their area; diagonal contacts become rings touching at
a point, which ``make_valid`` splits.

Then, as the reference solution: ``approxPolyDP`` with ``epsilon`` px, outer
contours and holes below ``min_area`` px^2 dropped, the result made valid
(polygonal parts only), always a MultiPolygon. :func:`prob_to_grid_polygons` scales
it to grid coordinates with ``dataset.pixels_to_grid``.
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.polygons.geometry import polygonal, repair

PAD = 2  # px of padding around the upsampled mask


def _cyclic_neighbours(starts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the previous and next point of every point of concatenated rings."""
    idx = np.arange(n, dtype=np.int64)
    ends = np.append(starts[1:], n)
    prev, nxt = idx - 1, idx + 1
    prev[starts] = ends - 1
    nxt[ends - 1] = starts
    return prev, nxt


def _ring_starts(ring_id: np.ndarray, n_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """(points per ring, index of each ring's first point) of concatenated rings."""
    counts = np.bincount(ring_id, minlength=n_rings)
    return counts, np.concatenate(([0], np.cumsum(counts)[:-1]))


def _simplified(pts: np.ndarray, ring_id: np.ndarray, n_rings: int):
    """(pts, ring_id) without consecutive repeated points, then without collinear points
    where the ring goes on in the same direction (back-and-forth spikes stay)."""
    for step in ("duplicates", "collinear"):
        counts, starts = _ring_starts(ring_id, n_rings)
        prev, nxt = _cyclic_neighbours(starts[counts > 0], len(pts))
        if step == "duplicates":
            keep = np.any(pts != pts[prev], axis=1)
        else:
            a, b = pts - pts[prev], pts[nxt] - pts
            cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
            dot = a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]
            keep = (cross != 0) | (dot <= 0)
        pts, ring_id = pts[keep], ring_id[keep]
    return pts, ring_id


def _areas_and_repeats(pts, ring_id, counts, starts) -> tuple[np.ndarray, np.ndarray]:
    """Shoelace area of each ring, and whether it passes one vertex twice (a diagonal
    contact)."""
    nonempty = counts > 0
    _, nxt = _cyclic_neighbours(starts[nonempty], len(pts))
    x, y = pts[:, 0], pts[:, 1]
    cross = x * y[nxt] - y * x[nxt]
    areas = np.zeros(len(counts))
    areas[nonempty] = 0.5 * np.abs(np.add.reduceat(cross, starts[nonempty]))
    order = np.lexsort((y, x, ring_id))
    r_s, x_s, y_s = ring_id[order], x[order], y[order]
    same = (r_s[1:] == r_s[:-1]) & (x_s[1:] == x_s[:-1]) & (y_s[1:] == y_s[:-1])
    repeats = np.zeros(len(counts), bool)
    repeats[r_s[1:][same]] = True
    return areas, repeats


def _corner_rings(contours, pad: int) -> list[np.ndarray]:
    """Map contours of the 2x-upsampled, padded mask to pixel-corner rings, all at once.

    Sub-pixel ``2c`` -> corner ``c``, ``2c + 1`` -> corner ``c + 1``. Returns the rings
    ((n, 2) int32 arrays without consecutive repeated or collinear points; n may be
    < 3), their areas, and whether a ring passes one vertex twice.
    """
    lengths = np.fromiter((len(c) for c in contours), np.int64, len(contours))
    pts = (np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.int64) - pad + 1) // 2
    ring_id = np.repeat(np.arange(len(contours)), lengths)
    pts, ring_id = _simplified(pts, ring_id, len(contours))
    counts, starts = _ring_starts(ring_id, len(contours))
    areas, repeats = _areas_and_repeats(pts, ring_id, counts, starts)
    rings = np.split(pts.astype(np.int32), np.cumsum(counts)[:-1])
    return rings, areas, repeats


def _contours(mask: np.ndarray):
    """(contours, hierarchy rows) of the mask upsampled 2x and padded by ``PAD``
    (``RETR_CCOMP``: outer contours and their holes); (None, None) when there are none."""
    import cv2

    h, w = mask.shape
    up = np.zeros((2 * h + 2 * PAD, 2 * w + 2 * PAD), np.uint8)
    m8 = np.ascontiguousarray((mask != 0).view(np.uint8))
    up[PAD:-PAD, PAD:-PAD] = cv2.resize(m8, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    del up
    if hierarchy is None or not contours:
        return None, None
    return contours, hierarchy.reshape(-1, 4)


def _kept_ring(pts: np.ndarray, area: float, exact: bool, epsilon: float, min_area: float):
    """A ring's points (simplified with ``approxPolyDP`` unless ``exact``), or None when
    it has fewer than 3 points, no area or less than ``min_area``."""
    import cv2

    if len(pts) < 3:
        return None
    if not exact:
        pts = cv2.approxPolyDP(pts.reshape(-1, 1, 2), float(epsilon), True)
        area = abs(cv2.contourArea(pts)) if len(pts) >= 3 else 0.0
        pts = pts.reshape(-1, 2)
    if area <= 0 or area < min_area:
        return None
    return pts


def _shell_polygons(i: int, hierarchy: np.ndarray, ring, simple: bool) -> list:
    """The valid polygon(s) of outer contour ``i`` and its holes (its children);
    ``ring(j)`` gives contour j's kept points or None. ``simple``: an exact ring with no
    repeated vertex, valid as it is when it has no holes."""
    from shapely.geometry import Polygon

    shell = ring(i)
    if shell is None:
        return []
    holes = []
    child = hierarchy[i, 2]
    while child != -1:
        hole = ring(child)
        if hole is not None:
            holes.append(hole)
        child = hierarchy[child, 0]
    poly = Polygon(shell, holes)
    # Exact pixel-edge rings are simple unless a vertex repeats (diagonal contact);
    # holes may touch and simplified rings may cross: those are checked.
    if (simple and not holes) or poly.is_valid:
        return [poly]
    return list(repair(poly).geoms)


def _union(parts: list):
    """A valid MultiPolygon of the parts. Exact parts of different contours meet at most
    at points; simplified parts may overlap, and islands overlap the shell of a hole
    that min_area filled: then they are merged."""
    import shapely
    from shapely.geometry import MultiPolygon

    if not parts:
        return MultiPolygon()
    mp = MultiPolygon(parts)
    if not mp.is_valid:
        mp = polygonal(shapely.union_all(parts))
        if not mp.is_valid:
            mp = repair(mp)
    return mp


def mask_to_polygons(mask: np.ndarray, epsilon: float = 0.0, min_area: float = 0.0):
    """Polygons (pixel coordinates, MultiPolygon) of the non-zero pixels of a 2-D mask.

    ``epsilon``: ``cv2.approxPolyDP`` tolerance in px (0 = exact pixel edges);
    ``min_area``: outer contours and holes with a smaller area (px^2) are dropped.
    """
    from shapely.geometry import MultiPolygon

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if not mask.any():
        return MultiPolygon()
    contours, hierarchy = _contours(mask)
    if hierarchy is None:
        return MultiPolygon()
    rings, areas, repeats = _corner_rings(contours, PAD)
    exact = epsilon <= 0

    def ring(j: int):
        return _kept_ring(rings[j], areas[j], exact, epsilon, min_area)

    parts = []
    for i in np.flatnonzero(hierarchy[:, 3] == -1):  # outer contours; holes are children
        parts.extend(_shell_polygons(i, hierarchy, ring, exact and not repeats[i]))
    return _union(parts)


def prob_to_grid_polygons(
    prob: np.ndarray,
    threshold: float,
    xmax: float,
    ymin: float,
    epsilon: float = 2.0,
    min_area: float = 50.0,
):
    """MultiPolygon in grid coordinates of ``prob >= threshold``."""
    from dstl_hpc.sources.dstl import pixels_to_grid

    height, width = prob.shape
    mp = mask_to_polygons(prob >= np.float32(threshold), epsilon=epsilon, min_area=min_area)
    if mp.is_empty:
        return mp
    return pixels_to_grid(mp, width, height, xmax, ymin)
