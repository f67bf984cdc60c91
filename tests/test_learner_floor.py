"""A floor that catches a broken learner: the real workflow, on a small synthetic
dataset with the four classes that learn fastest (buildings, trees, crops, waterway),
must score well above what a model that does not learn scores.

Measured with this config (mean polygon Jaccard over the four classes):
working learner, seeds 0 / 1: validation held-out 0.57 / 0.55, test 0.50 / 0.50;
learning rate 1e-9 (a learner that does not learn), seed 0: validation held-out 0.14,
test 0.10; the all-zero predictor: 0. The floor, 0.30, sits between them. About 2.5
minutes on 2 cores.
"""

import json

import pytest
from test_workflow import snakemake, tiny_config

FLOOR = 0.30


def floor_config(seed=0):
    cfg = tiny_config()
    cfg["synthetic"] = {"images": 10, "train_images": 7, "size": [256, 256], "seed": seed}
    cfg["defaults"].update(
        filters_base=8,
        epochs=4,
        batch_size=16,
        patches_per_epoch=640,
        lr=0.003,
        lr_decay_epochs=[3],
        valid_tile=128,
        tile=128,
        shift_average=False,
        seed=seed,
    )
    cfg["groups"] = {"easy": {"classes": [1, 5, 6, 7]}}
    cfg["unmodelled_classes"] = [2, 3, 4, 8, 9, 10]  # submitted empty, on purpose
    return cfg


@pytest.mark.slow
def test_held_out_scores_clear_the_floor(tmp_path):
    snakemake(tmp_path, floor_config())
    res = tmp_path / "results"
    valid = json.loads((res / "validation/scores.json").read_text())
    test = json.loads((res / "test/scores.json").read_text())
    assert valid["mean"] > FLOOR, valid
    assert test["mean"] > FLOOR, test
