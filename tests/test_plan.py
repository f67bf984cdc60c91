import copy
import json
from pathlib import Path

import pytest
import yaml

from dstl_hpc.config.plan import Plan
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.dstl import Layout

ROOT = Path(__file__).resolve().parent.parent


def demo_config():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_demo_plan_ids_and_variants():
    plan = Plan(demo_config())
    assert len(plan.train_ids) == 8 and len(plan.test_ids) == 4
    assert plan.validation_ids == plan.train_ids[-2:]
    assert set(plan.fit_ids("validation")).isdisjoint(plan.validation_ids)
    assert plan.fit_ids("all") == plan.train_ids
    assert plan.predict_ids("all") == plan.test_ids
    assert plan.classes == list(range(1, 11))


def test_group_settings_are_defaults_plus_overrides_and_exclude_other_groups():
    plan = Plan(demo_config())
    s = json.loads(plan.train_settings_json("vehicles"))
    assert s["classes"] == [9, 10] and s["rotate_deg"] == 20 and s["oversample"] == 0.5
    assert "tile" not in s and "train_resources" not in s
    b = json.loads(plan.train_settings_json("buildings"))
    assert b["rotate_deg"] == 15 and b["oversample"] == 0.0


def test_changing_one_group_changes_only_its_params():
    cfg = demo_config()
    before = {g: Plan(cfg).train_settings_json(g) for g in cfg["groups"]}
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"]["roads"]["epochs"] = 3
    after = {g: Plan(cfg2).train_settings_json(g) for g in cfg["groups"]}
    assert [g for g in before if before[g] != after[g]] == ["roads"]


def test_prediction_settings_do_not_touch_training():
    cfg = demo_config()
    cfg2 = copy.deepcopy(cfg)
    cfg2["groups"]["water"]["shift_average"] = False
    assert Plan(cfg).train_settings_json("water") == Plan(cfg2).train_settings_json("water")
    assert json.loads(Plan(cfg2).predict_settings_json("water"))["shift_average"] is False
    assert json.loads(Plan(cfg).predict_settings_json("water"))["shift_steps"] == 2


def test_class_settings_and_pre_buffer():
    plan = Plan(demo_config())
    assert plan.class_settings(2)["min_area"] == 10
    assert plan.class_settings(5)["min_area"] == 50
    assert plan.pre_buffers() == {2: 0.5}


def test_swept_or_fixed_is_decided_by_the_plan_and_paths_by_results_paths():
    cfg = demo_config()
    cfg["classes"] = {"3": {"threshold": 0.4}}
    plan = Plan(cfg)
    r = str(plan.results)
    assert plan.fixed_threshold(3) == 0.4 and plan.fixed_threshold(1) is None
    assert 3 not in plan.swept_classes and plan.swept_classes == [k for k in plan.classes if k != 3]
    assert plan.fixed_thresholds() == {3: 0.4}
    assert plan.threshold_args(3) == ["--threshold", "0.4"] and plan.threshold_inputs(3) == []
    chosen = f"{r}/validation/thresholds/class_1.json"
    assert plan.threshold_args("1") == ["--threshold-json", chosen]
    assert plan.threshold_inputs(1) == [chosen]
    paths = plan.paths
    assert paths.model("{variant}", "{group}") == f"{r}/models/{{variant}}/{{group}}/model.pt"
    assert paths.prediction_dir("all", "g", 2) == f"{r}/predictions/all/g/part2"
    assert paths.sweep(4, "g") == f"{r}/validation/sweeps/class_4/g.json"
    assert paths.polygon_part("all", 4, 0) == f"{r}/polygons/all/class_4/part0.csv"
    assert paths.scores("test") == f"{r}/test/scores.json"
    image = plan.train_ids[0]
    assert plan.stack_file(image) == f"{r}/stacks/part0/{image}.h5"
    assert plan.mask_inputs([image]) == [f"{r}/masks/{image}.h5"]


def test_resources_merge_defaults():
    cfg = demo_config()
    cfg["groups"]["water"]["train_resources"] = {"gpu": 2, "runtime": 99}
    plan = Plan(cfg)
    assert plan.resources("water", "train")["gpu"] == 2
    assert plan.resources("water", "train")["mem_mb"] == 4000
    assert plan.resources("roads", "train")["gpu"] == 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: (
                c["groups"]["roads"].update(classes=[1, 3]),
                c.setdefault("classes", {}).update({"1": {"threshold": 0.4}}),
            ),
            "in several groups .* set threshold null",
        ),
        (
            lambda c: (c["groups"]["roads"].update(classes=[1, 3]), c.update(variants=["all"])),
            "one is chosen on validation",
        ),
        (
            lambda c: c["groups"]["roads"].update(model="ndwi", members=2),
            "model ndwi trains nothing",
        ),
        (lambda c: c.update(validation_ids=["nope"]), "are not training ids"),
        (lambda c: c["data"].update(source="dstl", dir=None), "set it to the DSTL data directory"),
    ],
)
def test_plan_errors(mutate, message):
    cfg = demo_config()
    mutate(cfg)
    with pytest.raises(DstlError, match=message):
        Plan(cfg)


def fake_layout(root, train=("t0", "t1", "t2", "t3"), test=("s0", "s1", "s2")):
    """The DSTL layout's files: RGB TIFFs of 8 x 8 px (a dry run reads their headers to
    estimate each job's memory), the band TIFFs empty (only checked to exist)."""
    import numpy as np
    import tifffile

    header = "ImageId,ClassType,MultipolygonWKT\n"
    for name, ids in (("train_wkt_v4.csv", train), ("sample_submission.csv", test)):
        rows = "".join(f"{i},{k},MULTIPOLYGON EMPTY\n" for i in ids for k in range(1, 11))
        (root / name).write_text(header + rows)
    (root / "grid_sizes.csv").write_text(
        ",Xmax,Ymin\n" + "".join(f"{i},0.009,-0.009\n" for i in (*train, *test))
    )
    for i in (*train, *test):
        for f in Layout(root).image_files(i):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch()
        tifffile.imwrite(Layout(root).three_band(i), np.zeros((3, 8, 8), np.uint16))
    return root


def test_real_layout_ids_come_from_the_csvs(tmp_path):
    cfg = demo_config()
    cfg["data"] = {"source": "dstl", "dir": str(fake_layout(tmp_path))}
    cfg["results"] = str(tmp_path.parent / f"{tmp_path.name}-results")
    cfg["validation_ids"] = ["t1"]
    plan = Plan(cfg)
    assert plan.train_ids == ["t0", "t1", "t2", "t3"] and plan.test_ids == ["s0", "s1", "s2"]
    assert plan.fit_ids("validation") == ["t0", "t2", "t3"]


def test_parts_cover_every_predict_id_once():
    cfg = demo_config()
    cfg["images_per_job"] = 3
    plan = Plan(cfg)
    for variant in ("validation", "all"):
        got = [i for p in range(plan.n_parts(variant)) for i in plan.part_ids(variant, p)]
        assert got == plan.predict_ids(variant)
    assert plan.n_parts("all") == 2 and plan.part_ids("all", 1) == plan.test_ids[3:]
    with pytest.raises(DstlError, match="no part 2"):
        plan.part_ids("all", 2)


def test_align_parts_cover_every_image_once_training_first():
    cfg = demo_config()
    cfg["align_images_per_job"] = 5
    plan = Plan(cfg)
    parts = [plan.align_part_ids(p) for p in range(plan.n_align_parts())]
    assert [i for ids in parts for i in ids] == plan.all_ids
    assert all(len(ids) == 5 for ids in parts[:-1]) and 1 <= len(parts[-1]) <= 5
    assert plan.all_ids[: len(plan.train_ids)] == plan.train_ids
    for p, ids in enumerate(parts):
        for i in ids:
            assert plan.align_part_of(i) == p
            assert plan.stack_file(i) == f"{plan.results}/stacks/part{p}/{i}.h5"
    ids = [parts[0][0], parts[-1][-1], parts[0][1]]
    assert plan.stack_dirs(ids) == [plan.stack_dir(0), plan.stack_dir(len(parts) - 1)]
    with pytest.raises(DstlError, match="not an image id"):
        plan.align_part_of("nope")
    with pytest.raises(DstlError, match="no part"):
        plan.align_part_ids(len(parts))


def test_polygon_parts_group_whole_predict_parts():
    cfg = demo_config()
    cfg["images_per_job"] = 1
    cfg["polygon_images_per_job"] = 3
    plan = Plan(cfg)
    n = plan.n_parts("all")
    groups = [plan.polygon_predict_parts("all", q) for q in range(plan.n_polygon_parts("all"))]
    assert [p for g in groups for p in g] == list(range(n))
    assert all(len(g) == 3 for g in groups[:-1])
    assert plan.n_polygon_parts("validation") == 1
    cfg["images_per_job"] = 3
    for images, parts in ((2, 1), (3, 1), (7, 2), (9, 3)):  # whole parts, rounded down
        cfg["polygon_images_per_job"] = images
        assert Plan(cfg).polygon_parts_per_job == parts


def test_ensemble_members_are_training_units_with_their_own_seeds():
    cfg = demo_config()
    cfg["groups"] = {
        "roads": {"classes": [3, 4], "members": 3, "seed": 5},
        "cars": {"classes": [9]},
    }
    cfg["unmodelled_classes"] = [1, 2, 5, 6, 7, 8, 10]
    plan = Plan(cfg)
    assert plan.units("roads") == ["roads", "roads__m1", "roads__m2"]
    assert plan.all_units == ["roads", "roads__m1", "roads__m2", "cars"]
    seeds = [plan.train_settings(u)["seed"] for u in plan.units("roads")]
    assert seeds == [5, 6, 7]
    assert plan.group_of("roads__m2") == ("roads", 2) and plan.group_of("cars") == ("cars", 0)
    for key in ("members", "ensemble", "train_resources"):
        assert key not in plan.train_settings("roads__m1")
    assert plan.resources("roads__m1", "train") == plan.resources("roads", "train")
    cfg["groups"]["x__m1"] = {"classes": [1]}
    with pytest.raises(DstlError, match="kept for ensemble members"):
        Plan(cfg)


def test_mosaic_groups_read_their_images_scene_neighbours():
    cfg = demo_config()
    cfg["groups"] = {"m": {"classes": [1], "mosaic": True}, "p": {"classes": [2]}}
    cfg["unmodelled_classes"] = list(range(3, 11))
    plan = Plan(cfg)
    ids = plan.part_ids("all", 0)
    context = plan.context_ids("m", ids)
    assert context and not set(context) & set(ids)
    for i in context:  # every one is a tile next to one of the part's images
        _, r, c = i.split("_")
        assert any(
            abs(int(r) - int(j.split("_")[1])) <= 1 and abs(int(c) - int(j.split("_")[2])) <= 1
            for j in ids
        )
    assert plan.context_ids("p", ids) == []
    assert plan.predict_settings("m").mosaic and not plan.predict_settings("p").mosaic


def test_a_class_in_two_groups_has_two_candidates_and_index_groups_train_nothing():
    cfg = demo_config()
    cfg["groups"]["water_index"] = {"classes": [7, 8], "model": "ndwi"}
    plan = Plan(cfg)
    water = [g for g in cfg["groups"] if 7 in cfg["groups"][g]["classes"]]
    assert plan.candidates(7) == water and len(water) == 2 and water[-1] == "water_index"
    alone = [k for k in plan.classes if k not in (7, 8)]
    assert all(len(plan.candidates(k)) == 1 for k in alone) and len(plan.candidates(8)) == 2
    assert plan.units("water_index") == [] and "water_index" not in plan.trained_groups
    # the predictor rule gives every group its --group (once)
    assert plan.index_model_args("water_index") == ["--index", "ndwi", "--classes", "7", "8"]
