"""Choosing the group that predicts a class, on its held-out validation score."""

import json

import numpy as np
import pytest

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.predictor import IndexModel
from dstl_hpc.scoring.choose import choose
from tests.test_sweep import crafted_sweep


def _consistent():
    """Both images best at 0.3: held out 4/5 and 5/6 -> (4 + 5) / (5 + 6)."""
    return {**crafted_sweep(), "inter_by_image": [[4.0, 1.0], [5.0, 1.0]],
            "union_by_image": [[5.0, 10.0], [6.0, 10.0]]}  # fmt: skip


def test_the_candidate_of_the_best_held_out_score_is_chosen():
    # crafted_sweep's images disagree: held out 2/20; the consistent one: 9/11
    got = choose(4, {"net": crafted_sweep(), "ndwi": _consistent()})
    assert got["group"] == "ndwi"
    assert got["group_scores"] == pytest.approx({"net": 2 / 20, "ndwi": 9 / 11})
    assert got["inter_by_image"] == _consistent()["inter_by_image"]  # the chosen sweep
    # ties go to the candidate listed first; one that cannot be held out loses
    assert choose(4, {"a": _consistent(), "b": _consistent()})["group"] == "a"
    lonely = {**_consistent(), "images": ["A"], "inter_by_image": [[4.0, 1.0]],
              "union_by_image": [[5.0, 10.0]]}  # fmt: skip
    assert choose(4, {"one": lonely, "two": crafted_sweep()})["group"] == "two"
    with pytest.raises(DstlError, match="of class 4, not 5"):
        choose(5, {"net": crafted_sweep()})


def test_choose_cli_writes_the_choice(tmp_path, capsys):
    a, b = tmp_path / "net.json", tmp_path / "ndwi.json"
    a.write_text(json.dumps(crafted_sweep()))
    b.write_text(json.dumps(_consistent()))
    out = tmp_path / "class_4.json"
    assert main(["choose", str(out), "--class", "4", f"net={a}", f"ndwi={b}"]) == 0
    assert json.loads(out.read_text())["group"] == "ndwi"
    capsys.readouterr()
    assert main(["choose", str(tmp_path / "x.json"), "--class", "4", f"net={a}", f"net={b}"]) == 2
    assert "given twice" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: usage and exit 2
        main(["choose", str(tmp_path / "y.json"), "--class", "4", "net"])


def test_an_index_model_predicts_the_rescaled_index():
    from dstl_hpc.sources.dstl import CHANNELS

    stack = np.zeros((20, 1, 3), np.uint16)
    stack[CHANNELS.index("M3")] = [300, 100, 0]  # green
    stack[CHANNELS.index("M8")] = [100, 300, 0]  # NIR2: ndwi 0.5, -0.5, 0 (no signal)
    prob = IndexModel("ndwi").probabilities(stack, 2)
    assert prob.shape == (2, 1, 3) and np.array_equal(prob[0], prob[1])
    assert prob[0, 0] == pytest.approx([0.75, 0.25, 0.5], abs=1e-4)  # (ndwi + 1) / 2


def test_a_candidate_that_predicts_nothing_where_there_is_nothing_beats_false_positives():
    """No truth on the validation images: a candidate whose held-out predictions are
    empty too scores None (undefined, perfect, as in the sweep) and beats one whose
    false positives score 0; it was ranked below 0 before."""
    empty = {**crafted_sweep(), "inter_by_image": [[0.0, 0.0], [0.0, 0.0]],
             "union_by_image": [[0.0, 0.0], [0.0, 0.0]]}  # fmt: skip
    noisy = {**crafted_sweep(), "inter_by_image": [[0.0, 0.0], [0.0, 0.0]],
             "union_by_image": [[3.0, 1.0], [2.0, 1.0]]}  # fmt: skip
    got = choose(4, {"index": noisy, "net": empty})
    assert got["group"] == "net" and got["group_scores"] == {"index": 0.0, "net": None}
