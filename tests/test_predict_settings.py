"""Prediction settings travel as one object (PredictSettings): built once from a group's
config, passed to the predictor rule as one JSON param, stored in predictor.pt only;
model.pt holds only what training received."""

import copy
import json
from pathlib import Path

import pytest

from dstl_hpc.config.plan import Plan
from dstl_hpc.config.schema_keys import GROUP_EXTRA_DEFAULTS
from dstl_hpc.config.settings import (
    PREDICT_DEFAULTS,
    PREDICT_KEYS,
    SETTINGS,
    TRAIN_DEFAULTS,
    TRAIN_KEYS,
    merge_settings,
)
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.settings import PREDICTOR_KEYS, PredictSettings
from dstl_hpc.predict.tiles import shift_offsets
from tests.test_plan import demo_config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_settings_sources_and_the_keys_are_disjoint():
    s = PredictSettings()
    assert PredictSettings.keys() == (*PREDICT_KEYS, *PREDICTOR_KEYS)
    for k in PREDICT_KEYS:
        assert getattr(s, k) == PREDICT_DEFAULTS[k] == SETTINGS[k].default, k
    for k in PREDICTOR_KEYS:
        assert getattr(s, k) == GROUP_EXTRA_DEFAULTS[k], k
    assert not set(TRAIN_KEYS) & set(PredictSettings.keys())
    assert set(TRAIN_KEYS) | set(PREDICT_KEYS) == set(SETTINGS)
    assert set(TRAIN_DEFAULTS) == set(TRAIN_KEYS)


def test_json_round_trip_and_checks():
    s = PredictSettings(tile=256, shift_average=False, shift_steps=2, edge_margin=5,
                        mosaic=True, ensemble="median", checkpoint="best")  # fmt: skip
    assert PredictSettings.from_json(s.to_json()) == s
    assert json.loads(s.to_json()) == s.to_dict()
    assert PredictSettings.from_json("{}") == PredictSettings()
    assert PredictSettings.from_json('{"tile": 64}') == PredictSettings(tile=64)
    for text, msg in [
        ('{"tiles": 64}', "did you mean 'tile'"),
        ('{"tile": 8}', "tile must be >= 16"),
        ('{"ensemble": "max"}', "ensemble must be one of"),
        ('{"epochs": 3}', "unknown setting 'epochs'"),  # a training setting
        ("[1]", "expected a JSON object"),
        ("{", "not valid JSON"),
    ]:
        with pytest.raises(DstlError, match=msg):
            PredictSettings.from_json(text)
    # a hand run's overrides: a shift_steps turns shift averaging back on
    off = PredictSettings(shift_average=False)
    assert off.overridden(shift_steps=2, tile=None) == PredictSettings(shift_steps=2)
    assert off.overridden(tile=64) == PredictSettings(shift_average=False, tile=64)


def test_one_shift_averaging_rule():
    assert shift_offsets(64, 3) == shift_offsets(64, 3, True) == [0, 21, 42]
    assert shift_offsets(64, 3, shift_average=False) == [0]
    assert shift_offsets(64, 1) == [0]


def test_tile_changes_the_predictor_param_and_not_the_train_settings():
    cfg = demo_config()
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"]["water"]["tile"] = 512
    before, after = Plan(cfg), Plan(cfg2)
    for g in cfg["groups"]:
        assert before.train_settings_json(g) == after.train_settings_json(g), g
        assert not set(PredictSettings.keys()) & set(before.train_settings(g))
        changed = before.predict_settings_json(g) != after.predict_settings_json(g)
        assert changed == (g == "water"), g
    assert json.loads(before.predict_settings_json("water"))["tile"] == 256
    assert PredictSettings.from_json(after.predict_settings_json("water")).tile == 512
    # the predictor rule gets exactly that JSON, as its one settings param
    rule = (ROOT / "workflow/rules/predict.smk").read_text().split("rule predict:")[0]
    assert "settings=lambda wc: PLAN.predict_settings_json(wc.group)" in rule
    assert "--settings {params.settings:q}" in rule
    for flag in ("--tile", "--shift-steps", "--ensemble", "--checkpoint", "--mosaic"):
        assert flag not in rule


def test_model_holds_what_training_received_and_the_predictor_what_it_was_given(tmp_path):
    torch = pytest.importorskip("torch")
    from dstl_hpc.cli import main
    from dstl_hpc.predict.predictor import load_predictor
    from dstl_hpc.train import train
    from dstl_hpc.train.model import load_model_file, save_model_file
    from tests.test_train import TINY, _dataset

    torch.set_num_threads(1)
    _dataset(tmp_path)
    # a group's config holds both kinds: training receives only its own
    group = {**TINY, "epochs": 1, "tile": 64, "shift_steps": 2, "edge_margin": 4}
    rc = train(
        out=tmp_path / "model.pt", metrics=tmp_path / "metrics.csv",
        checkpoint=tmp_path / "ckpt.pt", stats=tmp_path / "stats.json",
        stacks_dir=tmp_path / "stacks", masks_dir=tmp_path / "masks",
        train_ids=["d0", "d1", "d2"], valid_ids=["d3"], group="g", variant="validation",
        settings=merge_settings(group), device="cpu", threads=1,
    )  # fmt: skip
    assert rc == 0
    _, model_meta = load_model_file(tmp_path / "model.pt")
    assert not set(PredictSettings.keys()) & set(model_meta["hparams"])
    assert not set(PredictSettings.keys()) & set(model_meta)
    assert set(model_meta["hparams"]) == set(TRAIN_KEYS)
    assert model_meta["hparams"] == merge_settings(group)

    given = PredictSettings(tile=48, shift_steps=2, edge_margin=3, ensemble="median")
    out = tmp_path / "predictor.pt"
    model = str(tmp_path / "model.pt")
    assert main(["predictor", model, str(out), "--settings", given.to_json()]) == 0
    obj = torch.load(out, weights_only=True)
    assert obj["predict"] == given.to_dict()
    assert PredictSettings.of_model(obj) == given
    assert obj["hparams"] == model_meta["hparams"]  # training settings, untouched
    assert not {"combine", "checkpoint"} & set(obj)  # one place: predict
    _, meta = load_predictor(out)
    assert PredictSettings.of_model(meta) == given

    # an older model file that recorded prediction keys in its hparams still loads; its
    # predictor drops them from the hparams
    net, _ = load_model_file(model)
    old_meta = {k: v for k, v in model_meta.items() if k in ("classes", "channels", "mean",
                                                              "std", "group", "variant",
                                                              "epochs_done")}  # fmt: skip
    old_meta["hparams"] = {**model_meta["hparams"], **PREDICT_DEFAULTS, "tile": 96}
    old = tmp_path / "old.pt"
    save_model_file(old, net, old_meta)
    _, read = load_model_file(old)
    assert PredictSettings.of_model(read) == PredictSettings(tile=96)
    assert main(["predictor", str(old), str(tmp_path / "old_p.pt"), "--settings", "{}"]) == 0
    obj = torch.load(tmp_path / "old_p.pt", weights_only=True)
    assert obj["hparams"] == model_meta["hparams"] and obj["predict"] == PredictSettings().to_dict()


def test_predict_help_names_the_predictor_file():
    from dstl_hpc.cli import build_parser

    def help_of(name):
        sub = build_parser(name)._subparsers._group_actions[0].choices[name]
        return " ".join(sub.format_help().split())

    text = help_of("predict")
    assert "predictor.pt" in text and "default: the predictor file's" in text
    text = help_of("predictor")
    assert "--settings JSON" in text and "--tile" not in text and "--ensemble" not in text
