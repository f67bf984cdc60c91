"""Each setting is defined once (dstl_hpc/config/settings.py, schema_keys.py, schema_geo.py): the
checked-in schema, the key table, the `train` flags and Plan all agree with that one place."""

import copy
import json

import jsonschema
import pytest
import yaml

from dstl_hpc.cli import build_parser
from dstl_hpc.config.plan import Plan
from dstl_hpc.config.schema import SCHEMA_FILE, config_schema, main
from dstl_hpc.config.schema_keys import (
    CLASS_DEFAULTS,
    DEFAULTS,
    RESOURCE_DEFAULTS,
    SYNTHETIC_DEFAULTS,
)
from dstl_hpc.config.settings import (
    PREDICT_KEYS,
    SETTINGS,
    TRAIN_KEYS,
    merge_settings,
    schema_of,
)
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.settings import PredictSettings
from tests.test_plan import demo_config


def test_index_names_are_the_indices_setting_choices():
    from dstl_hpc.prepare.indices import INDICES

    assert SETTINGS["indices"].choices == INDICES


def test_checked_in_schema_and_key_table_are_up_to_date(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err
    assert yaml.safe_load(SCHEMA_FILE.read_text()) == json.loads(json.dumps(config_schema()))


def _group_validator():
    schema = config_schema()
    return jsonschema.Draft202012Validator(
        {**schema["$defs"]["settings"], "$defs": schema["$defs"]}
    )


def _edge_values(spec):
    """(value, accepted) pairs at and just beyond each bound of a setting."""
    step = 1 if spec.kind == "int" else 1e-6
    pairs = []
    if spec.minimum is not None:
        strict = spec.open in ("lo", "both")
        pairs += [(spec.minimum, not strict), (spec.minimum - step, False)]
        pairs.append((spec.minimum + step, True))
    if spec.maximum is not None:
        strict = spec.open in ("hi", "both")
        pairs += [(spec.maximum, not strict), (spec.maximum + step, False)]
    for choice in spec.choices:
        pairs.append(([choice] if spec.kind == "names" else choice, True))
    if spec.kind == "names":
        pairs += [(list(spec.choices), True), (["bogus"], False), ([spec.choices[0]] * 2, False)]
        pairs.append((spec.choices[0], False))
    if spec.kind in ("int", "number", "choice"):
        pairs.append(("x", False))
    if spec.kind == "bool":
        pairs += [(True, True), ("yes", False)]
    if spec.auto:
        pairs.append(("auto", True))
    if spec.nullable:
        pairs.append((None, True))
    return pairs


@pytest.mark.parametrize("key", [k for k in SETTINGS if k != "classes"])
def test_schema_and_validation_accept_and_refuse_the_same_values(key):
    spec = SETTINGS[key]
    validator = _group_validator()
    # the shape of the patch must stay valid while its sides are moved
    base = {"classes": [1], "patch_inner": 64, "patch_border": 16, "top_scale": 2}
    for value, accepted in _edge_values(spec):
        layer = {**base, key: value}
        if key in ("patch_inner", "patch_border", "top_scale"):
            layer = {"classes": [1], key: value}
        schema_ok = validator.is_valid(layer)
        try:
            merge_settings(layer)
            python_ok = True
        except DstlError as exc:
            python_ok = "divisible" in str(exc)  # a shape check the schema cannot make
        assert schema_ok == accepted == python_ok, (key, value, schema_ok, python_ok)


def test_train_flags_show_every_setting_with_its_one_default():
    sub = build_parser("train")._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in sub._actions}
    assert not any(f"setting_{key}" in actions for key in PREDICT_KEYS)
    for key in TRAIN_KEYS:
        spec = SETTINGS[key]
        action = actions[f"setting_{key}"]
        assert action.option_strings == ["--" + key.replace("_", "-")]
        shown = "required" if key == "classes" else f"default: {json.dumps(spec.default)}"
        assert action.help.replace("%%", "%") == f"{spec.help} ({shown})"


def test_plan_applies_the_same_defaults():
    cfg = demo_config()
    cfg["defaults"] = {}
    cfg["groups"] = {"g": {"classes": list(range(1, 11))}}  # every class: none unmodelled
    for key in ("class_defaults", "classes", "resources", *DEFAULTS):
        cfg.pop(key, None)
    cfg.pop("synthetic", None)
    plan = Plan(cfg)
    # group settings: what train gets, completed as train completes it
    trained = merge_settings(plan.train_settings("g"))
    for key, spec in SETTINGS.items():
        if key not in ("classes", *PREDICT_KEYS):
            assert trained[key] == spec.default, key
    assert not set(PREDICT_KEYS) & set(plan.train_settings("g"))
    assert plan.predict_settings("g") == PredictSettings()  # the defaults, defined once
    assert plan.class_settings(3) == CLASS_DEFAULTS
    assert plan.resources("g", "train") == RESOURCE_DEFAULTS
    assert plan.step_resources("align") == RESOURCE_DEFAULTS
    assert plan.synth == SYNTHETIC_DEFAULTS
    assert plan.images_per_job == DEFAULTS["images_per_job"] == 1
    assert plan.align_images_per_job == DEFAULTS["align_images_per_job"]
    assert plan.polygon_parts_per_job == 1
    assert plan.sweep_thresholds() == DEFAULTS["sweep_thresholds"]
    assert plan.truth_for_training_ids is DEFAULTS["truth_for_training_ids"]
    assert str(plan.results) == DEFAULTS["results"]


def test_snakemake_validation_fills_the_same_top_level_defaults(tmp_path):
    from snakemake.utils import validate

    cfg = {
        "data": {"source": "synthetic"},
        "results": "results",
        "defaults": {},
        "groups": {"g": {"classes": [1]}},
    }
    filled = copy.deepcopy(cfg)
    validate(filled, str(SCHEMA_FILE))
    for key, default in DEFAULTS.items():
        if default is not None:
            assert filled[key] == default, key
    assert filled["groups"] == cfg["groups"] and filled["defaults"] == {}  # layered by Plan
    assert schema_of(SETTINGS["num_workers"])["anyOf"][1] == {"const": "auto"}
