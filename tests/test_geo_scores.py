"""Scores of the geo source against hand computations."""

import logging

import numpy as np
import pytest
from shapely.geometry import Polygon, box

from dstl_hpc.sources.geo.scores import (
    choose_threshold,
    jaccard_scores,
    mean_score,
    pixel_counts,
    pixel_scores,
    polygon_jaccard,
    sweep_counts,
)


def test_pixel_counts_only_count_known_pixels():
    pred = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)
    truth = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], bool)
    known = np.array([[1, 1, 1, 1], [0, 1, 1, 1]], bool)
    # known pixels: (0,0) tp, (0,1) fp, (0,2) fn, (0,3) tn, (1,1) fn, (1,2) fp, (1,3) tn
    assert pixel_counts(pred, truth, known) == (1, 2, 2)


def test_pixel_scores_against_hand_computed_counts():
    counts = np.array([[6, 2, 4], [0, 0, 0], [0, 3, 0], [0, 0, 5]])
    s = pixel_scores(counts, ["a", "b", "c", "d"])
    assert s["a"]["iou"] == pytest.approx(6 / 12)
    assert s["a"]["f1"] == pytest.approx(12 / 18)
    assert s["a"]["precision"] == pytest.approx(6 / 8)
    assert s["a"]["recall"] == pytest.approx(6 / 10)
    # no truth and no prediction: undefined (the DSTL convention), left out of means
    assert s["b"] == {"tp": 0, "fp": 0, "fn": 0, "iou": None, "f1": None,
                      "precision": None, "recall": None}  # fmt: skip
    # predicted with no truth: recall 0/0 counts as 0; truth never predicted: precision 0
    assert s["c"]["iou"] == 0.0 and s["c"]["recall"] == 0.0 and s["c"]["precision"] == 0.0
    assert s["d"]["iou"] == 0.0 and s["d"]["precision"] == 0.0 and s["d"]["recall"] == 0.0
    assert mean_score(s) == pytest.approx((0.5 + 0 + 0) / 3)
    assert list(pixel_scores(counts[:1])) == [1]  # keys 1..N without names


def test_sweep_counts_match_pixel_counts_and_add_up_over_blocks():
    rng = np.random.default_rng(0)
    prob = rng.random((2, 30, 40)).astype(np.float32)
    prob[0, 0, 0] = np.float32(0.5)  # exactly on a threshold: positive (p >= t)
    truth = (rng.random((2, 30, 40)) > 0.6).astype(np.uint8)
    known = rng.random((30, 40)) > 0.1
    thresholds = [0.7, 0.3, 0.5, 0.9]  # any order
    counts = sweep_counts(prob, truth, known, thresholds)
    assert counts.shape == (2, 4, 3) and counts.dtype == np.int64
    for k in range(2):
        for j, t in enumerate(thresholds):
            expected = pixel_counts(prob[k] >= np.float32(t), truth[k], known)
            assert tuple(counts[k, j]) == expected
    halves = sweep_counts(prob[:, :13], truth[:, :13], known[:13], thresholds) + sweep_counts(
        prob[:, 13:], truth[:, 13:], known[13:], thresholds
    )
    np.testing.assert_array_equal(halves, counts)


def test_polygon_jaccard_against_a_hand_computation():
    pred = [box(0, 0, 10, 10), None]
    truth = [box(5, 0, 15, 10), box(0, 0, 1, 1)]
    sums = polygon_jaccard(pred, truth, None)
    # class 1: intersection 5 x 10 = 50, union 100 + 100 - 50 = 150; class 2: 0 / 1
    np.testing.assert_allclose(sums, [[50, 150], [0, 1]])

    # restricted to a labelled area x in [0, 8]: pred 80, truth 30, inter 30, union 80
    area = box(0, -5, 8, 20)
    np.testing.assert_allclose(polygon_jaccard(pred, truth, area), [[30, 80], [0, 1]])

    # summed over scenes, then divided (the DSTL metric), not a mean of ratios
    scene2 = polygon_jaccard([box(0, 0, 2, 2), None], [box(0, 0, 2, 2), None], None)
    np.testing.assert_allclose(scene2, [[4, 4], [0, 0]])
    scores = jaccard_scores(sums + scene2, ["a", "b"])
    assert scores == {"a": pytest.approx(54 / 154), "b": 0.0}
    assert jaccard_scores(np.zeros((1, 2))) == {1: None}


def test_polygon_jaccard_repairs_bow_ties_and_takes_lists():
    bow = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # two triangles of area 25
    sums = polygon_jaccard([[bow]], [[box(0, 0, 10, 10)]], None)
    np.testing.assert_allclose(sums, [[50, 100]])


def test_choose_threshold_best_iou_ties_to_the_lower(caplog):
    thresholds = [0.3, 0.5, 0.7]
    counts = np.array(
        [
            [[5, 5, 0], [8, 1, 1], [7, 0, 3]],  # IoU 0.5, 0.8, 0.7 -> 0.5
            [[6, 2, 2], [6, 2, 2], [5, 0, 5]],  # tie 0.6, 0.6, 0.5 -> 0.3
            [[0, 4, 0], [0, 0, 0], [0, 0, 0]],  # no truth: nothing predicted is perfect
            [[0, 0, 0], [0, 0, 0], [0, 0, 0]],  # nothing at all: the one closest to 0.5
        ]
    )
    with caplog.at_level(logging.WARNING):
        assert choose_threshold(counts, thresholds) == [0.5, 0.3, 0.5, 0.5]
    assert "class 4: no truth and nothing predicted" in caplog.text
    with pytest.raises(ValueError):
        choose_threshold(counts, [0.5])
