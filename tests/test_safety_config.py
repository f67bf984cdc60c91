"""The config is refused before any job when it would harm the user's data or waste
GPU hours: data and results apart, paths a shell and Snakemake can carry, YAML's
surprises (unquoted ids and class keys), non-finite numbers, missing files."""

import copy
import math
import re

import pytest
import yaml
from test_plan import ROOT, demo_config, fake_layout

from dstl_hpc.config.plan import Plan
from dstl_hpc.config.prepare import prepare_config
from dstl_hpc.errors import DstlError


def dstl_config(data_dir, results):
    cfg = yaml.safe_load((ROOT / "config/dstl.yaml").read_text())
    cfg["data"]["dir"] = str(data_dir)
    cfg["results"] = str(results)
    return cfg


@pytest.fixture
def layout_dir(tmp_path):
    ids = ("6010_1_2", "6140_3_1", "6110_1_2", "6160_2_1", "6170_0_4", "6100_2_2")
    root = tmp_path / "dstl"
    root.mkdir()
    return fake_layout(root, train=ids, test=("6020_0_0", "6020_0_1"))


# ------------------------------------------------------------- data_dir shortcut


def test_data_dir_on_the_synthetic_demo_is_refused_with_what_to_type():
    cfg = demo_config()
    cfg["data_dir"] = "/my/dstl"
    with pytest.raises(DstlError, match=r"data_dir=/my/dstl.*--configfile config/dstl\.yaml"):
        prepare_config(cfg, from_configfile=False)


def test_data_dir_on_a_synthetic_configfile_names_the_setting_to_change():
    cfg = demo_config()
    cfg["data_dir"] = "/my/dstl"
    with pytest.raises(DstlError, match=r"set data: \{source: dstl\}"):
        prepare_config(cfg, from_configfile=True)


def test_data_dir_shortcut_sets_data_dir_on_a_dstl_config(layout_dir, tmp_path):
    cfg = dstl_config(None, tmp_path / "results")
    cfg["data_dir"] = str(layout_dir)
    prepare_config(cfg, from_configfile=True)
    assert cfg["data"]["dir"] == str(layout_dir) and "data_dir" not in cfg


def test_synthetic_source_with_a_data_dir_is_refused():
    cfg = demo_config()
    cfg["data"]["dir"] = "/my/dstl"
    with pytest.raises(DstlError, match="data.source is synthetic"):
        Plan(cfg)


def test_synthetic_data_is_written_under_results_only(tmp_path):
    cfg = demo_config()
    cfg["results"] = str(tmp_path / "out")
    assert Plan(cfg).data_dir == tmp_path / "out" / "data"


# ------------------------------------------------------------- data and results apart


@pytest.mark.parametrize(
    "results, message",
    [
        (lambda d: d, "inside the data directory"),
        (lambda d: d / "results", "inside the data directory"),
        (lambda d: d / "three_band" / "r", "inside the data directory"),
        (lambda d: d.parent, "inside the results directory"),
    ],
)
def test_results_and_data_must_not_overlap(layout_dir, results, message):
    with pytest.raises(DstlError, match=message):
        Plan(dstl_config(layout_dir, results(layout_dir)))


def test_overlap_is_seen_through_a_symlink(layout_dir, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(layout_dir)
    with pytest.raises(DstlError, match="inside the data directory"):
        Plan(dstl_config(layout_dir, link / "results"))


def test_separate_data_and_results_are_accepted(layout_dir, tmp_path):
    plan = Plan(dstl_config(layout_dir, tmp_path / "results"))
    assert plan.validation_ids == ["6140_3_1", "6110_1_2", "6160_2_1", "6170_0_4", "6100_2_2"]


# ------------------------------------------------------------------ path characters


@pytest.mark.parametrize("bad", ["res\nults", "res\tults", "res{x}", "a}b", "res\x1bx"])
def test_paths_the_workflow_cannot_carry_are_refused(bad):
    cfg = demo_config()
    cfg["results"] = bad
    with pytest.raises(DstlError, match="config results: path"):
        Plan(cfg)


@pytest.mark.parametrize("ok", ["my results", "it's", "a;b", "$(touch x)", "`x`", 'q"q'])
def test_shell_characters_are_accepted_since_every_path_is_quoted(ok, tmp_path):
    cfg = demo_config()
    cfg["results"] = str(tmp_path / ok)
    assert Plan(cfg).results == tmp_path / ok


# ---------------------------------------------------------------- YAML surprises


def test_unquoted_ids_are_mapped_back_with_a_warning(layout_dir, tmp_path, caplog):
    text = f"validation_ids: [6140_3_1, 6010_1_2]\nresults: {tmp_path / 'r'}\n"
    cfg = dstl_config(layout_dir, tmp_path / "r")
    cfg.update(yaml.safe_load(text))
    assert cfg["validation_ids"] == [614031, 601012]  # what YAML makes of them
    prepare_config(cfg, from_configfile=True)
    plan = Plan(cfg)
    assert plan.validation_ids == ["6140_3_1", "6010_1_2"]
    assert "quote ids" in caplog.text


def test_an_unquoted_id_that_matches_no_training_id_says_quote_the_ids(layout_dir, tmp_path):
    cfg = dstl_config(layout_dir, tmp_path / "r")
    cfg["validation_ids"] = [999999]
    prepare_config(cfg, from_configfile=True)
    with pytest.raises(DstlError, match=r"quote the ids \('6140_3_1'\)"):
        Plan(cfg)


def test_unquoted_class_key_is_not_ignored():
    cfg = demo_config()
    cfg["classes"] = yaml.safe_load("9: {min_area: 5}")
    assert 9 in cfg["classes"]
    prepare_config(cfg, from_configfile=False)
    assert Plan(cfg).class_settings(9)["min_area"] == 5


def test_a_class_given_quoted_and_unquoted_is_refused():
    cfg = demo_config()
    cfg["classes"] = {9: {"min_area": 5}, "9": {"min_area": 7}}
    with pytest.raises(DstlError, match="classes: key 9 is given twice"):
        prepare_config(cfg, from_configfile=False)


# ------------------------------------------------------------ non-finite numbers


@pytest.mark.parametrize(
    "where, set_bad",
    [
        ("class_defaults.epsilon", lambda c, v: c["class_defaults"].update(epsilon=v)),
        ("classes.2.pre_buffer", lambda c, v: c["classes"]["2"].update(pre_buffer=v)),
        ("classes.9.min_area", lambda c, v: c["classes"]["9"].update(min_area=v)),
        ("classes.3.threshold", lambda c, v: c["classes"].update({"3": {"threshold": v}})),
        ("defaults.lr", lambda c, v: c["defaults"].update(lr=v)),
        ("groups.roads.dropout", lambda c, v: c["groups"]["roads"].update(dropout=v)),
        ("sweep_thresholds[1]", lambda c, v: c.update(sweep_thresholds=[0.5, v])),
    ],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_naming_the_key(where, set_bad, value):
    cfg = copy.deepcopy(demo_config())
    set_bad(cfg, value)
    with pytest.raises(DstlError, match=re.escape(f"config {where}: ") + ".* finite"):
        prepare_config(cfg, from_configfile=False)


def test_yaml_nan_is_refused():
    cfg = demo_config()
    cfg["class_defaults"].update(yaml.safe_load("epsilon: .nan"))
    with pytest.raises(DstlError, match="class_defaults.epsilon"):
        prepare_config(cfg, from_configfile=False)


def test_group_settings_are_checked_before_any_job():
    cfg = demo_config()
    cfg["groups"]["roads"]["patch_border"] = 15  # 64 + 30 is not a multiple of 16
    with pytest.raises(DstlError, match="config groups.roads: patch_inner"):
        Plan(cfg)


# ----------------------------------------------------- missing files, before the DAG


def test_missing_tiff_is_named_before_any_job(layout_dir, tmp_path):
    (layout_dir / "sixteen_band" / "6020_0_1_A.tif").unlink()
    with pytest.raises(DstlError, match=r"1 image file\(s\) missing: .*6020_0_1_A\.tif"):
        Plan(dstl_config(layout_dir, tmp_path / "r"))


def test_missing_grid_row_is_named(layout_dir, tmp_path):
    grid = layout_dir / "grid_sizes.csv"
    grid.write_text("".join(line for line in grid.open() if not line.startswith("6020_0_0")))
    with pytest.raises(DstlError, match=r"grid_sizes.csv: no row for 1 id\(s\): 6020_0_0"):
        Plan(dstl_config(layout_dir, tmp_path / "r"))


def test_empty_sample_submission_is_refused(layout_dir, tmp_path):
    (layout_dir / "sample_submission.csv").write_text("ImageId,ClassType,MultipolygonWKT\n")
    with pytest.raises(DstlError, match=r"sample_submission.csv: no image ids"):
        Plan(dstl_config(layout_dir, tmp_path / "r"))


def test_validation_ids_must_be_training_ids(layout_dir, tmp_path):
    cfg = dstl_config(layout_dir, tmp_path / "r")
    cfg["validation_ids"] = ["6020_0_0"]  # a test id
    with pytest.raises(DstlError, match="are not training ids"):
        Plan(cfg)
