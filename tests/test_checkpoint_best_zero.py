"""``checkpoint: best`` when no class of a group ever scores above 0 on validation:
each class keeps the last weights, in the validation variant and in the all variant
trained with ``--select-from`` (before, both refused with exit 2)."""

import json

import pytest
import torch

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.predictor import load_predictor
from dstl_hpc.train.best import read_best_epochs
from tests.test_train import TINY, _dataset

torch.set_num_threads(1)

HEADER = "epoch,steps,lr,train_loss,valid_loss,seconds,jaccard_3,jaccard_4,mean_jaccard\n"


def test_a_metrics_csv_where_no_class_scored_chooses_no_epoch(tmp_path):
    path = tmp_path / "metrics.csv"
    # class 3 predicted where there was no truth (0), class 4 no truth, nothing found
    path.write_text(HEADER + "1,2,0.01,1.0,0.9,1.0,0.000000,,0.0\n2,4,0.01,0.8,0.7,1.0,0,,0\n")
    assert read_best_epochs(path, [3, 4]) == {}
    # a training without validation images: nothing to choose from
    path.write_text(HEADER + "1,2,0.01,1.0,,1.0,,,\n")
    with pytest.raises(DstlError, match=f"^{path}: no validation Jaccard to choose epochs"):
        read_best_epochs(path, [3, 4])


def _train_args(root, name, *extra):
    settings = {**TINY, "classes": [2], "epochs": 2}  # class 2: no truth in any image
    return [
        "train", "--out", str(root / name / "model.pt"),
        "--metrics", str(root / name / "metrics.csv"),
        "--checkpoint", str(root / name / "ckpt.pt"), "--stats", str(root / "stats.json"),
        "--stacks-dir", str(root / "stacks"), "--masks-dir", str(root / "masks"),
        "--train-ids", "d0", "d1", "d2", "--group", "g", "--settings", json.dumps(settings),
        "--threads", "1", *extra,
    ]  # fmt: skip


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def never_scored(tmp_path_factory):
    """A validation run of a class that no validation image holds."""
    root = tmp_path_factory.mktemp("zero")
    _dataset(root)
    args = _train_args(root, "v", "--valid-ids", "d3", "--variant", "validation")
    assert main(args) == 0
    return root


def _predictor_keeps_the_last_weights(model_path, out):
    rc = main(["predictor", str(model_path), str(out), "--settings", '{"checkpoint": "best"}'])
    assert rc == 0
    members, meta = load_predictor(out)
    obj = torch.load(model_path, weights_only=True)
    assert meta["predict"]["checkpoint"] == "best" and len(members) == 1
    assert members[0][1] == [0] and _equal(members[0][0].state_dict(), obj["state_dict"])


def test_a_class_that_never_scored_keeps_the_last_weights(never_scored, tmp_path):
    model = never_scored / "v" / "model.pt"
    obj = torch.load(model, weights_only=True)
    assert obj["best"] == {"2": None} and obj["best_states"] == {}
    assert read_best_epochs(never_scored / "v" / "metrics.csv", [2]) == {}
    _predictor_keeps_the_last_weights(model, tmp_path / "best.pt")


def test_the_all_variant_selecting_from_a_run_where_nothing_scored(never_scored, tmp_path):
    """``--select-from`` a metrics CSV that chose no epoch: all epochs are trained and
    every class keeps the last weights."""
    metrics = never_scored / "v" / "metrics.csv"
    args = _train_args(never_scored, "a", "--variant", "all", "--select-from", str(metrics))
    assert main(args) == 0
    model = never_scored / "a" / "model.pt"
    obj = torch.load(model, weights_only=True)
    assert obj["epochs_done"] == 2 and obj["best"] == {"2": None} and obj["best_states"] == {}
    _predictor_keeps_the_last_weights(model, tmp_path / "best.pt")
