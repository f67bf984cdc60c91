"""Choose a class's probability threshold on validation predictions.

For every threshold of a grid, the validation predictions of the class are
polygonised exactly as ``dstl-hpc polygonize`` does (``approxPolyDP`` epsilon,
``min_area``) and scored against the truth polygons with the competition's
Jaccard (intersection and union areas summed over the images, grid units).
The threshold with the best score wins; ties go to the threshold closest to 0.5.

Areas are computed in pixel coordinates and converted to grid units per image
(``area_grid = area_px / |fx * fy|``), which is exact and avoids overlaying
tiny grid coordinates.
"""

from __future__ import annotations

import logging

import numpy as np

from dstl_hpc.errors import DstlError

log = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]  # 0.05 .. 0.95


def choose(thresholds, scores, fixed: float | None = None) -> tuple[float, str | None]:
    """(threshold, note): the best score, ties closest to 0.5; ``fixed`` overrides.

    A null score (no truth and no predicted area) counts as perfect agreement.
    """
    if fixed is not None:
        return float(fixed), "threshold fixed by configuration"
    if all(s is None for s in scores):
        return 0.5, "no truth area and no predicted area at any threshold: chose 0.5"
    vals = [1.0 if s is None else s for s in scores]
    best = max(vals)
    cands = [t for t, v in zip(thresholds, vals, strict=True) if v >= best - 1e-12]
    t = min(cands, key=lambda x: (abs(x - 0.5), x))
    note = None
    if any(s is None for s in scores):
        note = "no truth area: thresholds without predicted area count as perfect"
    return float(t), note


def sweep(
    class_type: int,
    truth_csv,
    grid_sizes_csv,
    predictions,
    thresholds=None,
    epsilon: float = 2.0,
    min_area: float = 50.0,
    fixed: float | None = None,
) -> dict:
    """The threshold-sweep dict of contracts.md for one class."""
    from dstl_hpc.dataset import grid_to_pixels, read_grid_sizes, read_wkt_entries, scalers
    from dstl_hpc.metrics import jaccard_areas, safe_parse
    from dstl_hpc.polygons import check_threshold, mask_to_polygons, read_prediction_plane

    thresholds = sorted(set(float(t) for t in (thresholds or DEFAULT_THRESHOLDS)))
    for t in thresholds:
        check_threshold(t, "--thresholds")
    if fixed is not None:
        check_threshold(fixed, "--fixed")
    if not predictions:
        raise DstlError("sweep: no prediction files given")
    truth = read_wkt_entries(truth_csv)
    grids = read_grid_sizes(grid_sizes_csv)

    inter = np.zeros(len(thresholds))
    union = np.zeros(len(thresholds))
    pred_area = np.zeros(len(thresholds))
    truth_area = 0.0
    images = []
    for path in predictions:
        prob, image_id = read_prediction_plane(path, class_type)
        if image_id in images:
            raise DstlError(f"{path}: image {image_id} given twice")
        images.append(image_id)
        if image_id not in truth:
            raise DstlError(f"{truth_csv}: no truth polygons for image {image_id} (from {path})")
        if image_id not in grids:
            raise DstlError(f"{grid_sizes_csv}: image {image_id} is missing")
        xmax, ymin = grids[image_id]
        h, w = prob.shape
        fx, fy = scalers(w, h, xmax, ymin)
        px_to_grid = 1.0 / abs(fx * fy)
        wkt, where = truth[image_id].get(class_type, ("MULTIPOLYGON EMPTY", ""))
        t_grid = safe_parse(wkt, where)
        t_px = grid_to_pixels(t_grid, w, h, xmax, ymin)
        truth_area += t_px.area * px_to_grid
        for j, thr in enumerate(thresholds):
            p_px = mask_to_polygons(prob >= np.float32(thr), epsilon=epsilon, min_area=min_area)
            i_px, u_px = jaccard_areas(t_px, p_px)
            inter[j] += i_px * px_to_grid
            union[j] += u_px * px_to_grid
            pred_area[j] += p_px.area * px_to_grid
        log.info("sweep class %s: %s done", class_type, image_id)

    scores = [float(i / u) if u > 0 else None for i, u in zip(inter, union, strict=True)]
    chosen, note = choose(thresholds, scores, fixed)
    out = {
        "class": int(class_type),
        "threshold": chosen,
        "fixed": fixed is not None,
        "thresholds": thresholds,
        "scores": scores,
        "epsilon": float(epsilon),
        "min_area": float(min_area),
        "images": images,
        "truth_area": truth_area,
        "pred_area": [float(a) for a in pred_area],
    }
    if note:
        out["note"] = note
    return out
