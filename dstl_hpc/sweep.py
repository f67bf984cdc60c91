"""Choose a class's probability threshold on validation predictions.

For every threshold of a grid, the validation predictions of the class are
polygonised exactly as ``dstl-hpc polygonize`` does (``approxPolyDP`` epsilon,
``min_area``) and scored against the truth polygons with the competition's
Jaccard (intersection and union areas summed over the images, grid units).
The threshold with the best score wins; ties go to the threshold closest to 0.5.

The per-image intersections and unions are kept in the result, so that a held-out
score needs no second pass: ``held_out`` scores each image at the threshold chosen
on the *other* images (leave one image out), the figure to trust, where the
threshold chosen on all images and scored on the same images is optimistic.

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


def _ratios(inter, union) -> list[float | None]:
    return [float(i / u) if u > 0 else None for i, u in zip(inter, union, strict=True)]


def held_out(result: dict) -> dict:
    """Leave-one-image-out score of a sweep result: each image is scored at the
    threshold ``choose`` picks on the other images; intersections and unions are then
    summed over images as the competition does.

    Returns ``{"score": float | None, "thresholds": {image: threshold}, "method": ...}``.
    A fixed threshold is not tuned, so it is its own held-out threshold. With one
    image there is nothing to hold out from: the score is None.
    """
    if "inter_by_image" not in result or "union_by_image" not in result:
        raise DstlError(
            f"sweep of class {result.get('class')}: no per-image areas (an older "
            "dstl-hpc sweep wrote it): run the sweep again"
        )
    images = list(result["images"])
    thresholds = list(result["thresholds"])
    inter = np.asarray(result["inter_by_image"], dtype=float).reshape(len(images), -1)
    union = np.asarray(result["union_by_image"], dtype=float).reshape(len(images), -1)
    if result.get("fixed"):
        j = thresholds.index(result["threshold"]) if result["threshold"] in thresholds else None
        if j is None:  # the fixed threshold is not on the grid: score it from scratch
            return {"score": None, "thresholds": {}, "method": "fixed threshold off the grid"}
        chosen = dict.fromkeys(images, result["threshold"])
        method = "fixed threshold (not tuned)"
    elif len(images) < 2:
        return {"score": None, "thresholds": {}, "method": "needs two or more images"}
    else:
        chosen = {}
        for i, image in enumerate(images):
            others = [r for r in range(len(images)) if r != i]
            scores = _ratios(inter[others].sum(axis=0), union[others].sum(axis=0))
            chosen[image] = choose(thresholds, scores)[0]
        method = "leave-one-image-out"
    cols = [thresholds.index(chosen[image]) for image in images]
    i_sum = float(sum(inter[r, j] for r, j in enumerate(cols)))
    u_sum = float(sum(union[r, j] for r, j in enumerate(cols)))
    return {"score": i_sum / u_sum if u_sum > 0 else None, "thresholds": chosen, "method": method}


def with_held_out(scores: dict, sweeps: list[dict]) -> dict:
    """A scores dict whose ``per_class`` / ``mean`` are held out, the tuned ones kept
    as ``per_class_tuned`` / ``mean_tuned``.

    Classes with a sweep get its leave-one-image-out score; classes without one (a
    threshold fixed in the config: nothing was tuned) keep their score. With fewer than
    two images nothing can be held out: ``mean`` is None and ``held_out.note`` says why.
    """
    from dstl_hpc.metrics import mean_of

    out = dict(scores)
    out["per_class_tuned"] = dict(scores["per_class"])
    out["mean_tuned"] = scores["mean"]
    per_class = dict(scores["per_class"])
    chosen, notes = {}, []
    for result in sweeps:
        k = str(result["class"])
        if k not in per_class:
            continue
        held = held_out(result)
        if held["method"] == "needs two or more images":
            notes.append(f"class {k}: {held['method']}")
        per_class[k] = held["score"]
        chosen[k] = held["thresholds"]
    out["per_class"] = per_class
    out["mean"] = None if notes else mean_of(per_class)
    out["held_out"] = {
        "method": "leave-one-image-out: each image scored at the threshold chosen on the "
        "other validation images",
        "thresholds": chosen,
    }
    if notes:
        out["held_out"]["note"] = "; ".join(notes)
    return out


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

    inter_by_image, union_by_image = [], []
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
        inter_by_image.append(np.zeros(len(thresholds)))
        union_by_image.append(np.zeros(len(thresholds)))
        for j, thr in enumerate(thresholds):
            p_px = mask_to_polygons(prob >= np.float32(thr), epsilon=epsilon, min_area=min_area)
            i_px, u_px = jaccard_areas(t_px, p_px)
            inter_by_image[-1][j] = i_px * px_to_grid
            union_by_image[-1][j] = u_px * px_to_grid
            pred_area[j] += p_px.area * px_to_grid
        log.info("sweep class %s: %s done", class_type, image_id)

    scores = _ratios(np.sum(inter_by_image, axis=0), np.sum(union_by_image, axis=0))
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
        # grid-unit areas per image (rows, in ``images`` order) and threshold (columns)
        "inter_by_image": [[float(v) for v in row] for row in inter_by_image],
        "union_by_image": [[float(v) for v in row] for row in union_by_image],
    }
    if note:
        out["note"] = note
    return out
