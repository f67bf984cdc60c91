"""config/dstl.yaml carries the seed's training as the seed's code ran it
(lopuhin/kaggle-dstl): epoch length, flips, oversampling, vehicle epsilon."""

from pathlib import Path

import yaml

from dstl_hpc.config.schema_keys import GROUP_EXTRAS
from dstl_hpc.config.settings import merge_settings
from dstl_hpc.predict.settings import PredictSettings
from dstl_hpc.train import epoch_batches

ROOT = Path(__file__).resolve().parent.parent
CFG = yaml.safe_load((ROOT / "config/dstl.yaml").read_text())


def group(name):
    merged = {**CFG["defaults"], **CFG["groups"][name]}
    skip = [k for k in merged if k.endswith("_resources") or k in GROUP_EXTRAS]  # not train's
    return merge_settings({k: v for k, v in merged.items() if k not in skip})


def test_an_epoch_is_the_seeds_fixed_554_batches_of_128():
    for name in CFG["groups"]:
        s = group(name)
        assert s["batch_size"] == 128 and s["patches_per_epoch"] == 70912
        # whatever the number of images: 20 or 25 DSTL-size training images
        for n in (20, 25):
            assert epoch_batches(s, n * 3348 * 3392) == 554


def test_no_flips_for_buildings_structures_and_vehicles_small_rotations():
    assert group("buildings")["flips"] is False and group("buildings")["rotate_deg"] == 15
    assert group("vehicles")["flips"] is False and group("vehicles")["rotate_deg"] == 20
    for name in ("roads", "trees", "crops", "waterway", "standing_water"):
        assert group(name)["flips"] is True and group(name)["rotate_deg"] == 180


def test_vehicle_oversampling_is_off():
    assert all(group(name)["oversample"] == 0.0 for name in CFG["groups"])


def test_vehicle_epsilon_is_one_and_min_areas_are_the_seeds():
    classes = CFG["classes"]
    assert classes["9"]["epsilon"] == 1.0 and classes["10"]["epsilon"] == 1.0
    assert CFG["class_defaults"]["epsilon"] == 2.0 and CFG["class_defaults"]["min_area"] == 50
    assert classes["2"]["min_area"] == 10 and classes["9"]["min_area"] == 10
    assert classes["10"]["min_area"] == 10 and classes["2"]["pre_buffer"] == 0.5


def test_the_rest_of_the_seeds_schedule():
    s = group("roads")
    assert (s["filters_base"], s["patch_inner"], s["patch_border"]) == (32, 64, 16)
    assert (s["lr"], s["lr_decay_epochs"], s["lr_decay_factor"], s["epochs"]) == (
        1e-4,
        [25, 50],
        5.0,
        70,
    )
    assert (s["log_loss"], s["dice_loss"]) == (1.0, 10.0)
    vehicles = {**CFG["defaults"], **CFG["groups"]["vehicles"]}
    assert group("vehicles")["top_scale"] == 4 and "edge_margin" not in group("vehicles")
    assert PredictSettings.of_group(vehicles).edge_margin == 16  # predictor's, not train's
    assert CFG["truth_for_training_ids"] is True
    assert CFG["sweep_epsilons"] == [1.0, 2.0]
