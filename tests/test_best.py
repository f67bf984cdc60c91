"""Best checkpoints: choosing the epoch per class, keeping its weights, predicting with them."""

import pytest
import torch

from dstl_hpc.cli import main
from dstl_hpc.config.settings import merge_settings
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.predictor import load_predictor
from dstl_hpc.train import train
from dstl_hpc.train.best import best_epochs, read_best_epochs
from tests.test_train import TINY, _dataset, _rows

CRAFTED = """epoch,lr,train_loss,valid_loss,seconds,jaccard_3,jaccard_4,jaccard_7,mean_jaccard
1,0.001,1.0,1.0,1.0,0.10,,0.30,0.20
2,0.001,0.9,0.9,1.0,0.40,,0.25,0.32
3,0.001,0.8,0.8,1.0,0.35,,0.30,0.32
4,0.0002,0.7,0.7,1.0,0.40,,0.29,0.34
"""


def test_best_epoch_per_class_on_a_crafted_metrics_file(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CRAFTED)
    # class 3: 0.40 at epochs 2 and 4 (the latest, more trained, wins); class 7: 0.30
    # at epochs 1 and 3; class 4 never scored (no truth): left out
    assert read_best_epochs(path, [3, 4, 7]) == {3: 4, 7: 3}
    rows = [{"epoch": 1, "jaccard_3": 0.2}, {"epoch": 2, "jaccard_3": float("nan")}]
    assert best_epochs(rows, [3]) == {3: (1, 0.2)}
    # a class that never scored above 0 found nothing: it keeps the last weights
    zeros = [{"epoch": e, "jaccard_3": 0.0, "jaccard_7": 0.1 * (e == 2)} for e in (1, 2, 3)]
    assert best_epochs(zeros, [3, 7]) == {7: (2, 0.1)}
    with pytest.raises(DstlError, match="no column.*jaccard_9"):
        read_best_epochs(path, [3, 9])


def _train(root, name, settings, **kw):
    return train(
        out=root / name / "model.pt", metrics=root / name / "metrics.csv",
        checkpoint=root / name / "ckpt.pt", stats=root / "stats.json",
        stacks_dir=root / "stacks", masks_dir=root / "masks", train_ids=["d0", "d1", "d2"],
        group="g", settings=merge_settings(settings), device="cpu", threads=1, **kw,
    )  # fmt: skip


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("best")
    _dataset(root)
    settings = {**TINY, "epochs": 4, "lr": 0.02, "classes": [1, 2]}
    assert _train(root, "v", settings, valid_ids=["d3"], variant="validation") == 0
    return root, settings


def test_the_kept_weights_are_those_of_the_best_epoch(trained):
    """The weights kept for a class are the model after its best epoch: a training of
    that many epochs (same seed and schedule) ends with exactly them."""
    root, settings = trained
    obj = torch.load(root / "v" / "model.pt", weights_only=True)
    rows = _rows(root / "v" / "metrics.csv")
    want = {k: e for k, (e, _) in best_epochs(rows, [1]).items()}
    epoch = want[1]
    assert obj["best"]["1"]["epoch"] == epoch and obj["best"]["2"] is None  # no truth of 2
    assert set(obj["best_states"]) == {str(epoch)}
    assert _train(root, "short", {**settings, "epochs": epoch}, valid_ids=["d3"],
                  variant="validation") == 0  # fmt: skip
    short = torch.load(root / "short" / "model.pt", weights_only=True)
    assert _equal(obj["best_states"][str(epoch)], short["state_dict"])


def test_predictor_best_predicts_each_class_with_its_epoch(trained, tmp_path):
    root, _ = trained
    out = tmp_path / "best.pt"
    model = str(root / "v" / "model.pt")
    assert main(["predictor", model, str(out), "--settings", '{"checkpoint": "best"}']) == 0
    members, meta = load_predictor(out)
    obj = torch.load(root / "v" / "model.pt", weights_only=True)
    epoch = str(obj["best"]["1"]["epoch"])
    # class 1 from its best epoch; class 2 (never scored) from the last weights
    assert [idx for _, idx in members] == [[0], [1]] and meta["predict"]["checkpoint"] == "best"
    assert _equal(members[0][0].state_dict(), obj["best_states"][epoch])
    assert _equal(members[1][0].state_dict(), obj["state_dict"])
    # a model trained without validation has no best epochs: one line, exit 2
    assert main(["predictor", str(root / "missing.pt"), str(tmp_path / "x.pt")]) == 2


def test_all_variant_trains_to_the_chosen_epochs_and_keeps_them(trained, tmp_path):
    root, settings = trained
    chosen = {1: 2, 2: 3}  # every class has its epoch: train up to the latest
    assert _train(root, "a", settings, variant="all", select_epochs=chosen) == 0
    obj = torch.load(root / "a" / "model.pt", weights_only=True)
    assert obj["epochs_done"] == max(chosen.values())
    assert {k: v["epoch"] for k, v in obj["best"].items()} == {str(k): e for k, e in chosen.items()}
    last = str(max(chosen.values()))
    assert _equal(obj["best_states"][last], obj["state_dict"])
    plain = tmp_path / "plain"
    plain.mkdir()
    assert _train(root, "n", settings, variant="all") == 0
    rc = main(["predictor", str(root / "n" / "model.pt"), str(plain / "p.pt"),
               "--settings", '{"checkpoint": "best"}'])  # fmt: skip
    assert rc == 2 and not (plain / "p.pt").exists()


def test_a_class_without_a_chosen_epoch_keeps_the_full_training(trained):
    """Only class 1 has an epoch chosen on validation: the all variant still trains all
    its epochs, so that class 2 gets the last weights, and keeps class 1's epoch."""
    root, settings = trained
    assert _train(root, "partial", settings, variant="all", select_epochs={1: 2}) == 0
    obj = torch.load(root / "partial" / "model.pt", weights_only=True)
    assert obj["epochs_done"] == settings["epochs"] == 4
    assert obj["best"]["2"] is None and set(obj["best_states"]) == {"2"}
