"""The threshold sweep picks the threshold known to be best on a constructed case."""

from __future__ import annotations

import json

import numpy as np
import pytest
from shapely.geometry import box

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import to_wkt
from dstl_hpc.prepare.stacks import write_prediction
from dstl_hpc.scoring.sweep import choose_candidate, sweep
from dstl_hpc.sources.dstl import pixels_to_grid

H, W = 64, 72
XMAX, YMIN = 0.0091, -0.0090


def make_case(tmp_path, with_truth=True):
    """Truth: the square [16, 48) x [16, 48) px of image I1, and nothing for class 5.

    Class 2 probabilities: core 0.62, outer band of the truth square 0.45, a ring
    outside it 0.30, background 0.10. Thresholds in (0.30, 0.45] give the truth
    exactly (Jaccard 1), so the best choice closest to 0.5 is 0.45.
    """
    prob = np.full((H, W), 0.10, np.float32)
    prob[10:54, 10:54] = 0.30
    prob[16:48, 16:48] = 0.45
    prob[22:42, 22:42] = 0.62
    u8 = np.round(prob * 255).astype(np.uint8)
    pred = tmp_path / "I1.h5"
    write_prediction(pred, np.stack([u8, np.zeros_like(u8)]), "I1", [2, 5])
    truth_geom = pixels_to_grid(box(16, 16, 48, 48), W, H, XMAX, YMIN)
    truth = tmp_path / "truth.csv"
    wkt = to_wkt(truth_geom) if with_truth else "MULTIPOLYGON EMPTY"
    truth.write_text(f'ImageId,ClassType,MultipolygonWKT\nI1,2,"{wkt}"\nI1,5,MULTIPOLYGON EMPTY\n')
    grid = tmp_path / "grid_sizes.csv"
    grid.write_text(f",Xmax,Ymin\nI1,{XMAX},{YMIN}\n")
    return pred, truth, grid


def test_sweep_picks_known_best(tmp_path):
    pred, truth, grid = make_case(tmp_path)
    r = sweep(2, truth, grid, [pred], epsilon=0, min_area=0)
    t = dict(zip(r["thresholds"], r["scores"], strict=True))
    assert r["threshold"] == pytest.approx(0.45)
    assert "fixed" not in r  # the sweep always chooses
    assert t[0.35] == pytest.approx(1.0, abs=1e-5) and t[0.45] == pytest.approx(1.0, abs=1e-5)
    # above 0.45 only the core: 20^2 / 32^2; above 0.62 nothing
    assert t[0.5] == pytest.approx(400 / 1024, rel=1e-4)
    assert t[0.95] == 0.0
    # at 0.05 the whole image: 1024 / (64 * 72)
    assert t[0.05] == pytest.approx(1024 / (H * W), rel=1e-4)
    assert r["thresholds"] == [pytest.approx(0.05 * i) for i in range(1, 20)]
    assert r["epsilon"] == 0 and r["min_area"] == 0


def test_sweep_given_thresholds(tmp_path):
    pred, truth, grid = make_case(tmp_path)
    r = sweep(2, truth, grid, [pred], thresholds=[0.2, 0.5, 0.4], epsilon=0, min_area=0)
    assert r["thresholds"] == [0.2, 0.4, 0.5]
    assert r["threshold"] == 0.4 and "fixed" not in r
    assert r["scores"][1] == pytest.approx(1.0, abs=1e-5)


def test_sweep_no_truth_no_prediction(tmp_path):
    pred, truth, grid = make_case(tmp_path)
    r = sweep(5, truth, grid, [pred], thresholds=[0.3, 0.6])
    assert r["threshold"] == 0.5 and r["scores"] == [None, None]
    assert "note" in r


def test_sweep_cli_writes_json(tmp_path, capsys):
    pred, truth, grid = make_case(tmp_path)
    out = tmp_path / "thresholds" / "class_2.json"
    rc = main(
        ["sweep", str(out), "--class", "2", "--truth", str(truth), "--grid-sizes", str(grid)]
        + ["--predictions", str(pred), "--epsilon", "0", "--min-area", "0"]
        + ["--thresholds", "0.2", "0.4", "0.6"]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    assert {"class", "threshold", "thresholds", "scores", "epsilon", "min_area"} <= set(r)
    assert r["class"] == 2 and r["threshold"] == 0.4
    assert "0.400" in capsys.readouterr().out


def test_sweep_errors(tmp_path):
    pred, truth, grid = make_case(tmp_path)
    with pytest.raises(DstlError, match="class 3 not predicted"):
        sweep(3, truth, grid, [pred])
    other = tmp_path / "g2.csv"
    other.write_text(",Xmax,Ymin\nI9,0.009,-0.009\n")
    with pytest.raises(DstlError, match="I1 is missing"):
        sweep(2, truth, other, [pred])


def choose(thresholds, scores):
    """The candidate choice over thresholds alone (one epsilon, one min_area)."""
    best, note = choose_candidate([(t, 0.0, 0.0) for t in thresholds], scores, (0.0, 0.0))
    return best[0], note


def test_choose_ties_closest_to_half():
    assert choose([0.1, 0.3, 0.6, 0.9], [0.2, 0.5, 0.5, 0.1])[0] == 0.6
    assert choose([0.1, 0.9], [0.0, 0.0])[0] == 0.1  # equal distance: the lower one
    assert choose([0.1, 0.9], [None, None]) == (
        0.5,
        "no truth area and no predicted area at any threshold: chose 0.5",
    )
    # no truth: a threshold without predicted area (null) beats one with (0)
    assert choose([0.2, 0.4, 0.8], [0.0, 0.0, None])[0] == 0.8


def crafted_sweep():
    """Image A is best at 0.3 (Jaccard 0.8 vs 0.1), image B at 0.5 (0.6 vs 0.1)."""
    return {
        "class": 4,
        "threshold": 0.5,  # on both images together: 7/20 = 0.35 beats 5/15
        "epsilon": 0.0,
        "min_area": 0.0,
        "own_epsilon": 0.0,
        "own_min_area": 0.0,
        "thresholds": [0.3, 0.5],
        "scores": [5 / 15, 7 / 20],
        "candidates": [[0.3, 0.0, 0.0], [0.5, 0.0, 0.0]],
        "images": ["A", "B"],
        "inter_by_image": [[4.0, 1.0], [1.0, 6.0]],
        "union_by_image": [[5.0, 10.0], [10.0, 10.0]],
    }


def test_held_out_scores_each_image_at_the_threshold_of_the_others():
    from dstl_hpc.scoring.sweep import held_out

    h = held_out(crafted_sweep())
    # A gets B's best threshold (0.5): 1/10; B gets A's (0.3): 1/10 -> (1 + 1) / (10 + 10).
    assert h["thresholds"] == {"A": 0.5, "B": 0.3}
    assert h["score"] == pytest.approx(2 / 20)
    # a sweep without its per-image areas cannot be held out
    with pytest.raises(DstlError, match="no inter_by_image"):
        held_out({k: v for k, v in crafted_sweep().items() if k != "inter_by_image"})


def test_scores_json_gets_held_out_and_tuned_means():
    from dstl_hpc.scoring.sweep import with_held_out

    scores = {"per_class": {"4": 0.35, "5": 0.9}, "mean": 0.625, "images": ["A", "B"]}
    out = with_held_out(scores, [crafted_sweep()])
    assert out["per_class"] == {"4": pytest.approx(0.1), "5": 0.9}  # 5: fixed, kept
    assert out["mean"] == pytest.approx(0.5) and out["mean_tuned"] == 0.625
    assert out["per_class_tuned"] == {"4": 0.35, "5": 0.9}
    one = crafted_sweep()
    one.update(images=["A"], inter_by_image=[[4.0, 1.0]], union_by_image=[[5.0, 10.0]])
    lonely = with_held_out(scores, [one])
    assert lonely["mean"] is None and "two or more images" in lonely["held_out"]["note"]


def test_sweep_records_per_image_areas_that_add_up(tmp_path):
    pred, truth, grid = make_case(tmp_path)
    r = sweep(2, truth, grid, [pred], epsilon=0, min_area=0)
    inter, union = np.array(r["inter_by_image"]), np.array(r["union_by_image"])
    assert inter.shape == (1, len(r["thresholds"]))
    got = [i / u if u > 0 else None for i, u in zip(inter.sum(0), union.sum(0), strict=True)]
    assert got == pytest.approx(r["scores"])


def test_sweep_grid_picks_the_min_area_that_drops_a_false_blob(tmp_path):
    """A 4 x 4 px false positive beside the truth square: min_area 50 removes it."""
    pred, truth, grid = make_case(tmp_path)
    from dstl_hpc.prepare.stacks import read_prediction

    prob, classes, image_id = read_prediction(pred)
    u8 = np.round(prob * 255).astype(np.uint8)
    u8[0, 58:62, 2:6] = 250  # class 2's plane: a small blob far from the truth
    write_prediction(pred, u8, image_id, classes)
    own = sweep(2, truth, grid, [pred], thresholds=[0.4], epsilon=0, min_area=0)
    r = sweep(2, truth, grid, [pred], thresholds=[0.4], epsilon=0, min_area=0, min_areas=[50])
    assert own["min_area"] == 0 and own["scores"][0] == pytest.approx(1024 / 1040, abs=1e-4)
    assert r["min_area"] == 50 and r["scores"][0] == pytest.approx(1.0, abs=1e-5)
    assert len(r["candidates"]) == 2 and r["own_min_area"] == 0
    # polygonize takes the chosen min_area from the sweep JSON
    sweep_json = tmp_path / "class_2.json"
    sweep_json.write_text(json.dumps(r))
    out = tmp_path / "poly.csv"
    argv = ["polygonize", str(pred), str(out), "--class", "2", "--grid-sizes", str(grid)]
    assert main([*argv, "--threshold-json", str(sweep_json), "--min-area", "0"]) == 0
    wkt = out.read_text().splitlines()[1]
    assert wkt.count("((") == 1  # the square only, no blob


def _edge_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and "widen sweep_thresholds" in r.getMessage()
    ]


@pytest.mark.parametrize(
    "thresholds, chosen, edge",
    [([0.2, 0.3, 0.4], 0.4, "highest"), ([0.4, 0.5, 0.6], 0.4, "lowest")],
)
def test_sweep_warns_when_the_choice_is_an_end_of_the_grid(tmp_path, caplog, thresholds,
                                                           chosen, edge):  # fmt: skip
    pred, truth, grid = make_case(tmp_path)
    with caplog.at_level("WARNING"):
        r = sweep(2, truth, grid, [pred], thresholds=thresholds, epsilon=0, min_area=0)
    assert r["threshold"] == chosen
    assert _edge_warnings(caplog) == [
        f"class 2: threshold {chosen:g} is the grid's {edge} ({thresholds[0]:g}.."
        f"{thresholds[-1]:g}): the best may lie beyond it; widen sweep_thresholds"
    ]


def test_sweep_does_not_warn_inside_the_grid_or_without_area(tmp_path, caplog):
    pred, truth, grid = make_case(tmp_path)
    with caplog.at_level("WARNING"):
        assert sweep(2, truth, grid, [pred], thresholds=[0.2, 0.4, 0.5]).get("threshold") == 0.4
        sweep(5, truth, grid, [pred], thresholds=[0.3, 0.5])  # no truth, no prediction
    assert _edge_warnings(caplog) == []
