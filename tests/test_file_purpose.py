"""Files that say what they are for are checked against what the step was asked to do:
a threshold JSON of another class, a sweep of another group or other images, a model
or predictor of another group or variant is refused in one line naming the file, what
it says and what was asked (exit 2, nothing written)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.stacks import write_prediction, write_stack
from dstl_hpc.scoring.files import read_sweep
from tests.test_sweep import crafted_sweep

SQ = "MULTIPOLYGON ((({0} {1}, {2} {1}, {2} {3}, {0} {3}, {0} {1})))"
GRID = (0.0091, -0.0090)


def run(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return rc, err


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def write_csv(path: Path, rows, header=("ImageId", "ClassType", "MultipolygonWKT")) -> Path:
    lines = [",".join(header)] + [",".join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------ sweep JSON reader


def test_read_sweep_checks_class_group_and_images(tmp_path):
    path = write_json(tmp_path / "s.json", {**crafted_sweep(), "group": "net"})  # class 4
    assert read_sweep(path, expect_class=4, expect_group="net", expect_images=["B", "A"])
    assert read_sweep(path, expect_class=[1, 4])  # one of the classes asked for
    own = re.escape(str(path))
    with pytest.raises(
        DstlError, match=rf"^{own}: a threshold sweep of class 4, asked for class 7$"
    ):
        read_sweep(path, expect_class=7)
    with pytest.raises(DstlError, match=r"of class 4, asked for classes 1, 2$"):
        read_sweep(path, expect_class=[1, 2])
    with pytest.raises(DstlError, match=r"group 'net'.*asked for group 'ndwi'"):
        read_sweep(path, expect_group="ndwi")
    with pytest.raises(DstlError, match=r"2 image\(s\), asked for 3 .*e\.g\. C"):
        read_sweep(path, expect_images=["A", "B", "C"])
    # a sweep that records no group (an earlier run's) is not refused for it
    plain = write_json(tmp_path / "p.json", crafted_sweep())
    assert read_sweep(plain, expect_group="ndwi")["class"] == 4


# ------------------------------------------------------------ polygonize


def test_polygonize_refuses_a_threshold_json_of_another_class(tmp_path, capsys):
    pred = tmp_path / "I1.h5"
    write_prediction(pred, np.full((2, 20, 20), 200, np.uint8), "I1", [1, 7])
    grid = write_csv(tmp_path / "grid.csv", [("I1", *GRID)], ("", "Xmax", "Ymin"))
    tj = write_json(
        tmp_path / "class_7.json",
        {"class": 7, "threshold": 0.3, "epsilon": 0, "min_area": 0, "thresholds": [0.3],
         "scores": [0.5]},
    )  # fmt: skip
    out = tmp_path / "out" / "p.csv"
    args = ["polygonize", pred, out, "--grid-sizes", grid, "--threshold-json", tj]
    rc, err = run(capsys, *args, "--class", 1)
    assert rc == 2
    assert f"{tj}: a threshold sweep of class 7, asked for class 1" in err
    assert not out.exists()
    assert run(capsys, *args, "--class", 7)[0] == 0  # its own class: used


# ------------------------------------------------------------ choose


def test_choose_refuses_a_sweep_of_another_class_or_group(tmp_path, capsys):
    net = write_json(tmp_path / "net.json", {**crafted_sweep(), "group": "net"})
    out = tmp_path / "class_4.json"
    rc, err = run(capsys, "choose", out, "--class", 5, f"net={net}")
    assert rc == 2 and f"{net}: a threshold sweep of class 4, asked for class 5" in err
    # net's sweep given as ndwi's
    rc, err = run(capsys, "choose", out, "--class", 4, f"ndwi={net}")
    assert rc == 2
    assert f"{net}: a threshold sweep of group 'net''s predictions, asked for group 'ndwi'" in err
    assert not out.exists()
    assert run(capsys, "choose", out, "--class", 4, f"net={net}")[0] == 0
    assert json.loads(out.read_text())["group"] == "net"


# ------------------------------------------------------------ sweep


def test_sweep_records_its_group_and_refuses_predictions_of_another(tmp_path, capsys):
    u8 = np.zeros((1, 64, 72), np.uint8)
    u8[0, 16:48, 16:48] = 200
    truth = write_csv(tmp_path / "truth.csv", [("I1", 2, SQ.format(0.002, -0.002, 0.006, -0.006))])
    grid = write_csv(tmp_path / "grid.csv", [("I1", *GRID)], ("", "Xmax", "Ymin"))
    pred = tmp_path / "I1.h5"
    write_prediction(pred, u8, "I1", [2], group="roads")
    out = tmp_path / "sweeps" / "water.json"
    args = ["sweep", out, "--class", 2, "--truth", truth, "--grid-sizes", grid]
    rc, err = run(capsys, *args, "--predictions", pred, "--group", "water")
    assert rc == 2
    assert f"{pred}: a prediction of group 'roads', the sweep is asked for group 'water'" in err
    assert not out.exists()
    write_prediction(pred, u8, "I1", [2], group="water")
    assert run(capsys, *args, "--predictions", pred, "--group", "water")[0] == 0
    assert read_sweep(out, expect_class=2, expect_group="water")["group"] == "water"


# ------------------------------------------------------------ score --sweeps


@pytest.fixture
def score_case(tmp_path):
    rows = [(i, k, SQ.format(0, 0, 1, 1)) for i in ("A", "B") for k in (4, 5)]
    truth = write_csv(tmp_path / "truth.csv", rows)
    pred = write_csv(tmp_path / "pred.csv", rows)
    return truth, pred


def test_score_refuses_sweeps_of_other_classes_images_or_a_class_twice(
    tmp_path, capsys, score_case
):
    truth, pred = score_case
    s4 = write_json(tmp_path / "s4.json", crafted_sweep())  # class 4, images A and B
    s5 = write_json(tmp_path / "s5.json", {**crafted_sweep(), "class": 5})
    out = tmp_path / "scores.json"
    base = ["score", truth, pred, "--json", out]
    assert run(capsys, *base, "--classes", 4, 5, "--sweeps", s4, s5)[0] == 0
    out.unlink()
    rc, err = run(capsys, *base, "--classes", 4, "--sweeps", s4, s5)
    assert rc == 2 and f"{s5}: a threshold sweep of class 5, asked for class 4" in err
    rc, err = run(capsys, *base, "--classes", 4, 5, "--sweeps", s4, s4)
    assert rc == 2 and f"{s4}: a threshold sweep of class 4, as is {s4}" in err
    rc, err = run(capsys, *base, "--images", "A", "--sweeps", s4)
    assert rc == 2 and f"{s4}: a threshold sweep of 2 image(s), asked for 1" in err
    assert not out.exists()


# ------------------------------------------------------------ predictor and predict


def _model_file(path: Path, group: str, variant: str, classes=(7, 8)) -> Path:
    torch = pytest.importorskip("torch")
    from dstl_hpc.config.settings import copy_defaults
    from dstl_hpc.sources.dstl import CHANNELS
    from dstl_hpc.train.model import build_model, save_model_file

    hp = copy_defaults()
    hp.update(classes=list(classes), n_channels=3, filters_base=4, top_scale=2, dropout=0.0)
    torch.manual_seed(0)
    net = build_model(hp, n_in=3, n_classes=len(classes))
    meta = {"hparams": hp, "classes": list(classes), "channels": list(CHANNELS[:3]),
            "mean": [0.0] * 3, "std": [1.0] * 3, "group": group, "variant": variant,
            "epochs_done": 1}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model_file(path, net, meta)
    return path


def test_predictor_refuses_a_model_of_another_group_or_variant(tmp_path, capsys):
    from dstl_hpc.predict.predictor import read_predictor_meta

    roads = _model_file(tmp_path / "models/validation/water/model.pt", "roads", "validation")
    out = tmp_path / "models/validation/water/predictor.pt"
    args = ["predictor", roads, out, "--group", "water", "--variant", "validation"]
    rc, err = run(capsys, *args)
    assert rc == 2
    assert f"{roads}: a model of group 'roads', asked for a predictor of group 'water'" in err
    assert not out.exists()
    water = _model_file(tmp_path / "m/water.pt", "water", "all")
    rc, err = run(capsys, "predictor", water, out, "--group", "water", "--variant", "validation")
    assert rc == 2
    assert f"{water}: a model of variant 'all', asked for a predictor of variant 'validation'" in (
        err
    )
    # an ensemble's members: the group and water__m1
    member = _model_file(tmp_path / "m/member.pt", "water__m1", "all")
    assert (
        run(capsys, "predictor", water, member, out, "--group", "water", "--variant", "all")[0] == 0
    )
    meta = read_predictor_meta(out, expect_group="water", expect_variant="all")
    assert "trained_as" not in meta
    # a model of an earlier run (pretrained, --classes): its classes are checked, the
    # predictor records what it is for and what the model was trained as
    rc = run(capsys, *args, "--classes", 7, 8)[0]
    assert rc == 0
    meta = read_predictor_meta(out, expect_group="water", expect_variant="validation")
    assert meta["trained_as"] == {"group": "roads", "variant": "validation"}


def test_predict_refuses_a_predictor_of_another_group_or_variant(tmp_path, capsys):
    pytest.importorskip("torch")
    # a predictor of group water (an index model: no training needed)
    water = tmp_path / "models/validation/water/predictor.pt"
    rc = run(capsys, "predictor", water, "--index", "ndwi", "--classes", 7, 8, "--group",
             "water", "--variant", "validation")[0]  # fmt: skip
    assert rc == 0
    # copied into roads' folder
    roads = tmp_path / "models/validation/roads/predictor.pt"
    roads.parent.mkdir(parents=True)
    roads.write_bytes(water.read_bytes())
    stack = tmp_path / "stacks" / "6120_2_2.h5"
    stack.parent.mkdir()
    write_stack(stack, np.full((20, 24, 24), 300, np.uint16), "6120_2_2", {})
    out = tmp_path / "predictions" / "roads"
    rc, err = run(capsys, "predict", roads, stack, "--out-dir", out, "--group", "roads",
                  "--variant", "validation", "--device", "cpu")  # fmt: skip
    assert rc == 2
    assert (
        f"{roads}: a predictor of group 'water' variant 'validation', asked for group 'roads' "
        "variant 'validation'" in err
    )
    assert not out.exists()
    rc, err = run(capsys, "predict", water, stack, "--out-dir", out, "--group", "water",
                  "--variant", "all", "--device", "cpu")  # fmt: skip
    assert rc == 2 and "asked for group 'water' variant 'all'" in err
    rc = run(capsys, "predict", water, stack, "--out-dir", out, "--group", "water",
             "--variant", "validation", "--device", "cpu")[0]  # fmt: skip
    assert rc == 0 and (out / "6120_2_2.h5").exists()


# ------------------------------------------------------------ the workflow gives what was asked


def test_the_rules_tell_predictor_predict_and_sweep_their_group_and_variant(tmp_path):
    from tests.test_workflow import snakemake, tiny_config

    proc = snakemake(tmp_path, tiny_config(), "-n", "-p")
    commands = [
        line for line in (proc.stdout + proc.stderr).splitlines() if "python -m dstl_hpc" in line
    ]
    seen = set()
    for line in commands:
        m = re.search(r"dstl_hpc (predictor|predict) results/models/(\w+)/(\w+)/", line)
        if m:
            step, variant, group = m.groups()
            assert f"--group {group} --variant {variant}" in line, line
            seen.add(step)
        m = re.search(r"dstl_hpc sweep results/validation/sweeps/class_\d+/(\w+)\.json", line)
        if m:
            assert f"--group {m.group(1)} " in line, line
            seen.add("sweep")
    assert seen == {"predictor", "predict", "sweep"}


def test_a_stack_or_mask_copied_into_another_images_place_is_refused(tmp_path, capsys):
    """Training reads DIR/{id}.h5 and predict --out-dir names its outputs after the
    stacks: a file whose image_id says another image is refused, naming both ids."""
    import numpy as np

    from dstl_hpc.errors import DstlError
    from dstl_hpc.prepare.stacks import write_mask, write_stack
    from dstl_hpc.train.data import image_paths

    stacks, masks = tmp_path / "stacks", tmp_path / "masks"
    stacks.mkdir()
    masks.mkdir()
    image = np.zeros((20, 16, 16), np.uint16)
    write_stack(stacks / "6010_1_1.h5", image, "6010_1_1")
    write_stack(stacks / "6010_1_2.h5", image, "6010_1_1")  # a copy under another name
    write_mask(masks / "6010_1_2.h5", np.zeros((10, 16, 16), np.uint8), "6010_1_1")
    assert image_paths(stacks, ["6010_1_1"], "stack") == [stacks / "6010_1_1.h5"]
    for folder, what in ((stacks, "stack"), (masks, "mask")):
        with pytest.raises(DstlError, match=r"6010_1_2.h5: a file of image 6010_1_1 .* 6010_1_2"):
            image_paths(folder, ["6010_1_2"], what)
    rc = main(["predict", str(tmp_path / "no-model.pt"), str(stacks / "6010_1_2.h5"),
               "--out-dir", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "6010_1_2.h5: a file of image 6010_1_1" in err
    assert not (tmp_path / "out").exists()
