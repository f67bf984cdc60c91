"""Choose a class's probability threshold (and optionally epsilon, min_area) on
validation predictions.

For every candidate of a small grid (thresholds x epsilons x min_areas; by default
one epsilon and one min_area, the class's own), the validation predictions of the
class are polygonised exactly as ``dstl-hpc polygonize`` does (``approxPolyDP``
epsilon, ``min_area``) and scored against the truth polygons with the competition's
Jaccard (intersection and union areas summed over the images, grid units). The best
candidate wins; ties go to the class's own epsilon and min_area, then to the
threshold closest to 0.5.

The per-image intersections and unions are kept in the result, so that a held-out
score needs no second pass: ``held_out`` scores each image at the threshold chosen
on the *other* images (leave one image out), the figure to trust, where the
threshold chosen on all images and scored on the same images is optimistic.

Areas are computed in pixel coordinates and converted to grid units per image
(``area_grid = area_px / |fx * fy|``), which is exact and avoids overlaying
tiny grid coordinates.
"""

from __future__ import annotations

import itertools
import logging
from typing import NamedTuple

import numpy as np

from dstl_hpc.config.schema_keys import DEFAULTS
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import check_threshold, mask_to_polygons, read_prediction_plane
from dstl_hpc.scoring.metrics import jaccard_areas, mean_of, safe_parse
from dstl_hpc.sources.dstl import (
    grid_for,
    grid_to_pixels,
    read_grid_sizes,
    read_wkt_entries,
    scalers,
)

log = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = list(DEFAULTS["sweep_thresholds"])  # 0.05 .. 0.95
# What the held-out score reads of a sweep (``held_out``).
HELD_OUT_KEYS = ("images", "candidates", "own_epsilon", "own_min_area", "inter_by_image",
                 "union_by_image")  # fmt: skip


def choose_candidate(candidates, scores, own) -> tuple[tuple, str | None]:
    """((threshold, epsilon, min_area), note): the best score; ties go to the class's
    ``own`` (epsilon, min_area), then to the threshold closest to 0.5. A null score (no
    truth and no predicted area) counts as perfect agreement."""
    own = tuple(float(v) for v in own)

    def tie_break(c):
        return (tuple(c[1:]) != own, abs(c[0] - 0.5), c[0], c[1], c[2])

    if all(s is None for s in scores):
        return (0.5, *own), "no truth area and no predicted area at any threshold: chose 0.5"
    vals = [1.0 if s is None else s for s in scores]
    top = max(vals)
    best = min(
        (c for c, v in zip(candidates, vals, strict=True) if v >= top - 1e-12), key=tie_break
    )
    note = None
    if any(s is None for s in scores):
        note = "no truth area: thresholds without predicted area count as perfect"
    return tuple(best), note


def _ratios(inter, union) -> list[float | None]:
    return [float(i / u) if u > 0 else None for i, u in zip(inter, union, strict=True)]


def _candidates(result: dict) -> list[tuple[float, float, float]]:
    return [tuple(float(v) for v in c) for c in result["candidates"]]


def _leave_one_out(images, candidates, inter, union, own) -> dict:
    """image -> the candidate chosen on the other images (``inter`` and ``union``:
    arrays of images x candidates)."""
    chosen = {}
    for i, image in enumerate(images):
        others = [r for r in range(len(images)) if r != i]
        scores = _ratios(inter[others].sum(axis=0), union[others].sum(axis=0))
        pick = choose_candidate(candidates, scores, own)[0]
        # with no area on the other images at all, 0.5 may be off the grid
        chosen[image] = (
            pick
            if pick in candidates
            else min(candidates, key=lambda c: (c[1:] != own, abs(c[0] - pick[0])))
        )
    return chosen


def _score_at(chosen: dict, images, candidates, inter, union, method: str) -> dict:
    """The held-out dict: each image scored at its chosen candidate, intersections and
    unions summed over images."""
    cols = [candidates.index(chosen[image]) for image in images]
    i_sum = float(sum(inter[r, j] for r, j in enumerate(cols)))
    u_sum = float(sum(union[r, j] for r, j in enumerate(cols)))
    return {
        "score": i_sum / u_sum if u_sum > 0 else None,
        "thresholds": {image: c[0] for image, c in chosen.items()},
        "settings": {
            image: {"threshold": c[0], "epsilon": c[1], "min_area": c[2]}
            for image, c in chosen.items()
        },  # fmt: skip
        "method": method,
    }


def held_out(result: dict) -> dict:
    """Leave-one-image-out score of a sweep result: each image is scored at the
    candidate (threshold, epsilon, min_area) chosen on the other images; intersections
    and unions are then summed over images as the competition does.

    Returns ``{"score": float | None, "thresholds": {image: threshold}, "method": ...}``.
    With one image there is nothing to hold out from: the score is None.
    """
    missing = [k for k in HELD_OUT_KEYS if k not in result]
    if missing:
        raise DstlError(f"sweep of class {result.get('class')}: no {', '.join(missing)}")
    images = list(result["images"])
    if len(images) < 2:
        return {"score": None, "thresholds": {}, "method": "needs two or more images"}
    candidates = _candidates(result)
    own = (float(result["own_epsilon"]), float(result["own_min_area"]))
    inter = np.asarray(result["inter_by_image"], dtype=float).reshape(len(images), -1)
    union = np.asarray(result["union_by_image"], dtype=float).reshape(len(images), -1)
    chosen = _leave_one_out(images, candidates, inter, union, own)
    return _score_at(chosen, images, candidates, inter, union, "leave-one-image-out")


def with_held_out(scores: dict, sweeps: list[dict]) -> dict:
    """A scores dict whose ``per_class`` / ``mean`` are held out, the tuned ones kept
    as ``per_class_tuned`` / ``mean_tuned``.

    Classes with a sweep get its leave-one-image-out score; classes without one (a
    threshold fixed in the config, ``Plan.fixed_threshold``: nothing was tuned) keep
    their score. With fewer than
    two images nothing can be held out: ``mean`` is None and ``held_out.note`` says why.
    """
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


class _Areas(NamedTuple):
    """Grid-unit areas of a sweep: per image (rows in ``images`` order) and candidate."""

    images: list[str]
    inter: list[np.ndarray]
    union: list[np.ndarray]
    pred: np.ndarray  # predicted area of each candidate, summed over images
    truth: float  # truth area, summed over images


def _checked_thresholds(thresholds) -> list[float]:
    thresholds = sorted(set(float(t) for t in (thresholds or DEFAULT_THRESHOLDS)))
    for t in thresholds:
        check_threshold(t, "--thresholds")
    return thresholds


def _candidate_grid(thresholds, own, epsilons, min_areas) -> list[tuple]:
    """Every (threshold, epsilon, min_area) to try."""
    eps_grid = sorted({own[0], *map(float, epsilons or ())})
    area_grid = sorted({own[1], *map(float, min_areas or ())})
    return [(t, e, a) for e, a in itertools.product(eps_grid, area_grid) for t in thresholds]


def _truth_in_pixels(entries: dict, class_type: int, shape, grid) -> tuple:
    """(the class's truth MultiPolygon in pixels, grid units per px^2) of one image."""
    h, w = shape
    xmax, ymin = grid
    fx, fy = scalers(w, h, xmax, ymin)
    wkt, where = entries.get(class_type, ("MULTIPOLYGON EMPTY", ""))
    return grid_to_pixels(safe_parse(wkt, where), w, h, xmax, ymin), 1.0 / abs(fx * fy)


def _candidate_areas(prob, t_px, px_to_grid: float, candidates):
    """(intersections, unions, predicted areas) of each candidate on one image, grid units."""
    inter, union, pred = (np.zeros(len(candidates)) for _ in range(3))
    for j, (thr, eps, area) in enumerate(candidates):
        p_px = mask_to_polygons(prob >= np.float32(thr), epsilon=eps, min_area=area)
        i_px, u_px = jaccard_areas(t_px, p_px)
        inter[j] = i_px * px_to_grid
        union[j] = u_px * px_to_grid
        pred[j] = p_px.area * px_to_grid
    return inter, union, pred


def _sweep_areas(class_type, truth_csv, grid_sizes_csv, predictions, candidates) -> _Areas:
    """Every candidate polygonised and scored on each prediction's image."""
    truth = read_wkt_entries(truth_csv)
    grids = read_grid_sizes(grid_sizes_csv)
    images, inter_by_image, union_by_image = [], [], []
    pred_area, truth_area = np.zeros(len(candidates)), 0.0
    for path in predictions:
        prob, image_id = read_prediction_plane(path, class_type)
        if image_id in images:
            raise DstlError(f"{path}: image {image_id} given twice")
        images.append(image_id)
        if image_id not in truth:
            raise DstlError(f"{truth_csv}: no truth polygons for image {image_id} (from {path})")
        grid = grid_for(grids, image_id, grid_sizes_csv)
        t_px, px_to_grid = _truth_in_pixels(truth[image_id], class_type, prob.shape, grid)
        truth_area += t_px.area * px_to_grid
        inter, union, pred = _candidate_areas(prob, t_px, px_to_grid, candidates)
        inter_by_image.append(inter)
        union_by_image.append(union)
        pred_area += pred
        log.info("sweep class %s: %s done", class_type, image_id)
    return _Areas(images, inter_by_image, union_by_image, pred_area, truth_area)


def grid_edge(class_type, threshold: float, thresholds) -> str | None:
    """A warning when the chosen ``threshold`` is the lowest or highest of a grid of
    several: the best value may lie beyond it (None when it is inside the grid)."""
    grid = sorted(float(t) for t in thresholds)
    if len(grid) < 2 or float(threshold) not in (grid[0], grid[-1]):
        return None
    edge = "highest" if float(threshold) == grid[-1] else "lowest"
    return (
        f"class {class_type}: threshold {threshold:g} is the grid's {edge} "
        f"({grid[0]:g}..{grid[-1]:g}): the best may lie beyond it; widen sweep_thresholds"
    )


def _result(class_type, thresholds, candidates, own, areas: _Areas) -> dict:
    """The sweep dict: the best candidate, its curve, every candidate's score and
    per-image areas."""
    all_scores = _ratios(np.sum(areas.inter, axis=0), np.sum(areas.union, axis=0))
    best, note = choose_candidate(candidates, all_scores, own)
    scored = any(s is not None for s in all_scores)
    edge = grid_edge(class_type, best[0], thresholds) if scored else None
    if edge:
        log.warning("%s", edge)
    # The curve over thresholds at the chosen epsilon and min_area (the report plots it).
    curve = [j for j, c in enumerate(candidates) if c[1:] == best[1:]]
    out = {
        "class": int(class_type),
        "threshold": best[0],
        "thresholds": thresholds,
        "scores": [all_scores[j] for j in curve],
        "epsilon": best[1],
        "min_area": best[2],
        "own_epsilon": own[0],
        "own_min_area": own[1],
        "images": areas.images,
        "truth_area": areas.truth,
        "pred_area": [float(areas.pred[j]) for j in curve],
        # every (threshold, epsilon, min_area) tried, its score over all images, and
        # its grid-unit areas per image (rows, in ``images`` order)
        "candidates": [list(c) for c in candidates],
        "candidate_scores": all_scores,
        "inter_by_image": [[float(v) for v in row] for row in areas.inter],
        "union_by_image": [[float(v) for v in row] for row in areas.union],
    }
    if note:
        out["note"] = note
    return out


def sweep(
    class_type: int,
    truth_csv,
    grid_sizes_csv,
    predictions,
    thresholds=None,
    epsilon: float = 2.0,
    min_area: float = 50.0,
    epsilons=None,
    min_areas=None,
) -> dict:
    """The threshold-sweep dict of contracts.md for one class.

    ``epsilons`` / ``min_areas``: further values to try beside the class's own
    ``epsilon`` / ``min_area`` (a small grid: each value multiplies the work).
    """
    thresholds = _checked_thresholds(thresholds)
    if not predictions:
        raise DstlError("sweep: no prediction files given")
    own = (float(epsilon), float(min_area))
    candidates = _candidate_grid(thresholds, own, epsilons, min_areas)
    areas = _sweep_areas(class_type, truth_csv, grid_sizes_csv, predictions, candidates)
    return _result(class_type, thresholds, candidates, own, areas)
