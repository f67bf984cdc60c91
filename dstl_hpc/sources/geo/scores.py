"""Scores of the geo source: pixel counts, pixel IoU / F1 / precision / recall, the DSTL
polygon Jaccard, and the threshold choice.

Everything accumulates: counts (``int64``) and areas (``float64``) are summed over blocks
and scenes, and the scores are computed once from the sums, as the DSTL metric does
(``J_k = sum_i |T_ik & P_ik| / sum_i |T_ik | P_ik|`` over the images i).

Only ``known`` pixels count (labels complete and pixel valid), and polygons are restricted
to the labelled area. A prediction is ``p >= float32(threshold)``, as the tracer's.

Undefined cases (the DSTL convention): a class with no truth and no prediction (an empty
union) has every score ``None`` (null in JSON) and is left out of means; otherwise every
score is defined, with a 0/0 ratio counted as 0 (precision with no prediction, recall with
no truth). :func:`choose_threshold` counts a ``None`` IoU (nothing predicted where there
is no truth) as perfect agreement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def pixel_counts(pred, truth, known) -> tuple[int, int, int]:
    """(tp, fp, fn) pixel counts over the ``known`` pixels of boolean masks (any shape)."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    known = np.broadcast_to(np.asarray(known, dtype=bool), pred.shape)
    tp = int(np.count_nonzero(pred & truth & known))
    fp = int(np.count_nonzero(pred & ~truth & known))
    fn = int(np.count_nonzero(~pred & truth & known))
    return tp, fp, fn


def sweep_counts(prob, truth, known, thresholds: Sequence[float]) -> np.ndarray:
    """int64 (N, T, 3): (tp, fp, fn) of every class at every threshold (in the order
    given), prediction ``p >= float32(t)``, over the ``known`` pixels; add them up over
    blocks and scenes. ``prob`` float32 (N, h, w), ``truth`` uint8 (N, h, w), ``known``
    (h, w)."""
    prob = np.asarray(prob, dtype=np.float32)
    truth = np.asarray(truth).astype(bool)
    known = np.asarray(known, dtype=bool)
    thr = np.asarray(thresholds, dtype=np.float32).ravel()
    order = np.argsort(thr, kind="stable")
    sorted_thr = thr[order]
    n, t = prob.shape[0], len(thr)
    out = np.zeros((n, t, 3), np.int64)
    for k in range(n):
        p = prob[k][known]
        y = truth[k][known]
        # number of thresholds <= p: the pixel is positive at the first that many thresholds
        idx = np.searchsorted(sorted_thr, p, side="right")
        hist_t = np.bincount(idx[y], minlength=t + 1)
        hist_f = np.bincount(idx[~y], minlength=t + 1)
        # positives at sorted threshold j: pixels with idx > j
        tp = np.cumsum(hist_t[::-1])[::-1][1:]
        fp = np.cumsum(hist_f[::-1])[::-1][1:]
        fn = int(y.sum()) - tp
        out[k, order, 0] = tp
        out[k, order, 1] = fp
        out[k, order, 2] = fn
    return out


def _ratio(num, den) -> float:
    return float(num / den) if den > 0 else 0.0


def pixel_scores(counts, classes: Sequence[str] | None = None) -> dict:
    """{class: {"iou", "f1", "precision", "recall", "tp", "fp", "fn"}} from (N, 3) counts
    (keys: the class names, or 1..N). A class with no truth and no prediction has the
    scores None."""
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    names = list(classes) if classes is not None else list(range(1, len(counts) + 1))
    if len(names) != len(counts):
        raise ValueError(f"{len(names)} class names for {len(counts)} classes of counts")
    out = {}
    for name, (tp, fp, fn) in zip(names, counts.tolist(), strict=True):
        scores = {"tp": tp, "fp": fp, "fn": fn}
        if tp + fp + fn == 0:
            scores.update(iou=None, f1=None, precision=None, recall=None)
        else:
            scores.update(
                iou=tp / (tp + fp + fn),
                f1=2 * tp / (2 * tp + fp + fn),
                precision=_ratio(tp, tp + fp),
                recall=_ratio(tp, tp + fn),
            )
        out[name] = scores
    return out


def mean_score(per_class: dict, key: str = "iou") -> float | None:
    """Mean of ``key`` over the classes where it is defined (None when none is)."""
    vals = [s[key] for s in per_class.values() if s.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def _polygonal_valid(geom):
    """A valid Polygon / MultiPolygon (repaired with make_valid) from a geometry, a list of
    geometries or None."""
    import shapely

    from dstl_hpc.sources.geo.labels import polygonal

    if geom is None:
        return polygonal(None)
    if isinstance(geom, (list, tuple)):
        parts = [_polygonal_valid(g) for g in geom]
        parts = [g for g in parts if not g.is_empty]
        return polygonal(shapely.union_all(parts)) if parts else polygonal(None)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return polygonal(geom)


def polygon_jaccard(pred_geoms: Sequence, truth_geoms: Sequence, area_geom=None) -> np.ndarray:
    """float64 (N, 2): (intersection area, union area) per class of predicted and truth
    geometries (one geometry or a list per class, same CRS), both restricted to
    ``area_geom`` (None: everywhere). Sum over scenes, then :func:`jaccard_scores`."""
    import shapely

    if len(pred_geoms) != len(truth_geoms):
        raise ValueError(f"{len(pred_geoms)} predicted classes for {len(truth_geoms)} truth")
    area = _polygonal_valid(area_geom) if area_geom is not None else None
    out = np.zeros((len(pred_geoms), 2), np.float64)
    for k, (p, t) in enumerate(zip(pred_geoms, truth_geoms, strict=True)):
        p, t = _polygonal_valid(p), _polygonal_valid(t)
        if area is not None:
            p = _polygonal_valid(shapely.intersection(p, area))
            t = _polygonal_valid(shapely.intersection(t, area))
        inter = float(shapely.intersection(p, t).area) if not (p.is_empty or t.is_empty) else 0.0
        out[k] = inter, max(float(p.area) + float(t.area) - inter, 0.0)
    return out


def jaccard_scores(sums, classes: Sequence[str] | None = None) -> dict:
    """{class: summed intersection / summed union, or None where the union is 0}."""
    sums = np.asarray(sums, dtype=np.float64).reshape(-1, 2)
    names = list(classes) if classes is not None else list(range(1, len(sums) + 1))
    return {
        name: (float(i / u) if u > 0 else None)
        for name, (i, u) in zip(names, sums.tolist(), strict=True)
    }


def choose_threshold(counts, thresholds: Sequence[float]) -> list[float]:
    """Per class, the threshold with the best pixel IoU of ``counts`` (N, T, 3) (summed over
    scenes); ties go to the lower threshold. An undefined IoU (no truth, nothing predicted)
    counts as 1; a class with no truth and nothing predicted at any threshold gets the
    threshold closest to 0.5 (the lower on a tie), with a WARNING."""
    counts = np.asarray(counts, dtype=np.int64)
    thr = [float(t) for t in thresholds]
    if counts.ndim != 3 or counts.shape[1] != len(thr) or counts.shape[2] != 3:
        raise ValueError(f"counts of shape {counts.shape} for {len(thr)} thresholds")
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    union = tp + fp + fn
    iou = np.where(union > 0, tp / np.maximum(union, 1), 1.0)
    chosen = []
    for k in range(counts.shape[0]):
        if not union[k].any():
            best = min(thr, key=lambda t: (abs(t - 0.5), t))
            log.warning(
                "class %d: no truth and nothing predicted at any threshold: chose %g", k + 1, best
            )
        else:
            top = iou[k].max()
            best = min(t for t, v in zip(thr, iou[k], strict=True) if v >= top - 1e-12)
        chosen.append(best)
    return chosen
