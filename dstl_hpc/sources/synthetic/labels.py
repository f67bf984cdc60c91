"""Class labels of a scene, and their WKT in grid coordinates.

Labels and imagery agree by construction: the class polygons are made mutually
exclusive in a fixed priority order (vehicles are the exception: they lie on top
of the road, whose label keeps going under them), written to WKT in grid
coordinates, read back, and the pixels of each class are painted from that
round-tripped geometry (:mod:`~dstl_hpc.sources.synthetic.render`), so that the masks a later
step rasterises from ``train_wkt_v4.csv`` are the pixels that were drawn. The
polygons are clipped to the image's grid first (:func:`grid_frame`): the WKT lies
within 0 <= x <= Xmax, Ymin <= y <= 0, as the real data's does.
"""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from dstl_hpc.sources.dstl import CLASS_TYPES, grid_to_pixels, parse_wkt, pixels_to_grid
from dstl_hpc.sources.synthetic.scene import Scene
from dstl_hpc.sources.synthetic.shapes import clean, parts

EMPTY_WKT = "MULTIPOLYGON EMPTY"

# Exclusive classes from top (wins) to bottom; vehicles (9, 10) lie on top of all.
PRIORITY = (1, 2, 3, 4, 7, 8, 5, 6)
OVERLAYS = (9, 10)


def grid_frame(width: int, height: int, xmax: float, ymin: float) -> Polygon:
    """The image's grid, 0 <= x <= Xmax and Ymin <= y <= 0, in pixel coordinates.

    That is [0, W'] x [0, H'] with W' = W * W / (W + 1) (the DSTL convention of
    :func:`dstl_hpc.sources.dstl.scalers`): a little less than the image, so the last
    column and row of pixels (centres past W', H') are never labelled, as in the
    real data.
    """
    return grid_to_pixels(box(0, ymin, xmax, 0), width, height, xmax, ymin)


def scene_labels(scene: Scene, frame: Polygon) -> dict[int, MultiPolygon]:
    """ClassType -> MultiPolygon (pixel coordinates): exclusive in PRIORITY order,
    clipped to ``frame`` (:func:`grid_frame`).

    Each class loses what the classes above it cover; vehicles (OVERLAYS) keep their
    full shape and do not cut the road below them.
    """
    labels: dict[int, MultiPolygon] = {}
    above: list = []
    for i, cls in enumerate(PRIORITY):
        polys = [p for p, _ in scene.objects.get(cls, [])]
        if not polys:
            labels[cls] = MultiPolygon()
            continue
        own = shapely.union_all(polys).intersection(frame)
        tree = shapely.STRtree(above) if above else None
        pieces = []
        for part in parts(own):
            # Only the pieces above that touch this part matter.
            near = tree.query(part, predicate="intersects") if tree is not None else []
            if len(near):
                part = part.difference(shapely.union_all([above[j] for j in near]))
            pieces.extend(parts(part))
        labels[cls] = clean(MultiPolygon(pieces) if pieces else None)
        if i < len(PRIORITY) - 1:
            above.extend(parts(own))
    for cls in OVERLAYS:
        polys = [p for p, _ in scene.objects.get(cls, [])]
        geom = shapely.union_all(polys).intersection(frame) if polys else Polygon()
        labels[cls] = clean(geom)
    return {k: labels[k] for k in CLASS_TYPES}


def grid_wkt(
    labels: dict[int, MultiPolygon],
    image_id: str,
    width: int,
    height: int,
    xmax: float,
    ymin: float,
) -> tuple[dict[int, str], dict[int, MultiPolygon]]:
    """(ClassType -> WKT in grid coordinates, ClassType -> that WKT read back in pixels).

    Coordinates are written with 8 decimals; where rounding pinches a ring, the
    geometry is repaired in pixels (slivers dropped) and written again.
    """
    wkt: dict[int, str] = {}
    round_trip: dict[int, MultiPolygon] = {}
    for cls in CLASS_TYPES:
        geom = labels[cls]
        if geom.is_empty:
            wkt[cls] = EMPTY_WKT
            round_trip[cls] = MultiPolygon()
            continue
        for _repair in range(3):
            grid = pixels_to_grid(geom, width, height, xmax, ymin)
            text = shapely.to_wkt(grid, rounding_precision=8, trim=False)
            parsed = parse_wkt(text, f"synthetic {image_id} class {cls}")
            if parsed.is_valid:
                break
            geom = clean(grid_to_pixels(parsed, width, height, xmax, ymin))
        wkt[cls] = text
        round_trip[cls] = grid_to_pixels(parsed, width, height, xmax, ymin)
    return wkt, round_trip
