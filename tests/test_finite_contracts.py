"""Numbers that are not finite or not meaningful are refused where they are read or
written: stats.json (mean, std), the training loss and the weights written, and the
HDF5 files between steps (stacks, masks, predictions: dtype, shape, attributes)."""

import json
import logging

import h5py
import numpy as np
import pytest
import torch

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.plots.common import dataset_shape
from dstl_hpc.polygons.files import prediction_group, read_prediction_plane
from dstl_hpc.prepare.stacks import (
    h5_shape,
    known_plane,
    read_mask,
    read_prediction,
    read_prediction_u8,
    read_stack,
    read_valid,
    stack_info,
    write_mask,
    write_stack,
)
from dstl_hpc.train.data import load_stats
from dstl_hpc.train.model import UNet, read_model_obj, save_model_file
from dstl_hpc.train.state import save_checkpoint
from tests.test_train import TINY, _cli_args, _dataset

torch.set_num_threads(1)

NAMES = [f"c{k}" for k in range(4)]


def _stats_file(tmp_path, **change):
    stats = {"channels": NAMES, "mean": [300.0] * 4, "std": [100.0] * 4, **change}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats))  # NaN / Infinity as JSON's NaN / Infinity tokens
    return path


# ------------------------------------------------------------------ stats.json


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mean": [300.0, 300.0, float("nan"), 300.0]}, "mean of channel c2 is nan"),
        ({"mean": [300.0, float("inf"), 300.0, 300.0]}, "mean of channel c1 is inf"),
        ({"std": [100.0, 100.0, 100.0, 0.0]}, "std of channel c3 is 0.0"),
        ({"std": [-5.0, 100.0, 100.0, 100.0]}, "std of channel c0 is -5.0"),
        ({"std": [100.0, float("nan"), 100.0, 100.0]}, "std of channel c1 is nan"),
        ({"std": [100.0, 100.0, float("inf"), 100.0]}, "std of channel c2 is inf"),
        ({"channels": NAMES[:3]}, "'channels' must list one name per mean"),
        ({"std": [100.0] * 3}, "4 means but 3 stds"),
        ({"mean": [300.0, True, 300.0, 300.0]}, "mean[1] is True, not a number"),
    ],
)
def test_the_stats_reader_refuses_values_that_are_not_finite_or_not_positive(
    tmp_path, change, message
):
    path = _stats_file(tmp_path, **change)
    with pytest.raises(DstlError) as err:
        load_stats(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_training_on_stats_with_a_nan_mean_exits_2_and_writes_nothing(tmp_path, capsys):
    _dataset(tmp_path, n=2)
    stats = json.loads((tmp_path / "stats.json").read_text())
    stats["mean"][1] = float("nan")
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    settings = json.dumps({**TINY, "epochs": 1})
    assert main(_cli_args(tmp_path) + ["--settings", settings, "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"{tmp_path / 'stats.json'}: mean of channel c1 is nan (not finite)")
    assert len(err.splitlines()) == 1
    assert not any((tmp_path / n).exists() for n in ("m.pt", "m.csv", "c.pt"))


def test_stats_of_a_constant_band_writes_the_documented_floor_and_warns(tmp_path, caplog):
    rng = np.random.default_rng(0)
    ids = ["a", "b"]
    for i in ids:
        img = rng.integers(100, 2000, (20, 24, 24), dtype=np.uint16)
        img[5] = 7  # M2 constant: std 0
        img[6] = 500  # M3 all but constant: one pixel in 1152 differs (std ~0.03)
        if i == "b":
            img[6, 0, 0] = 501
        write_stack(tmp_path / f"{i}.h5", img, i, {})
    out = tmp_path / "stats.json"
    with caplog.at_level(logging.WARNING):
        assert main(["stats", str(out), *(str(tmp_path / f"{i}.h5") for i in ids)]) == 0
    stats = json.loads(out.read_text())
    assert stats["std"][5] == 1.0 and stats["std"][6] == 1.0
    assert stats["mean"][5] == 7.0 and all(v > 100 for v in stats["std"][:5])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert warned[0].startswith(f"{out}: channel(s) M2, M3 vary by less than one digital number")
    assert "(a, b)" in warned[0]
    load_stats(out)  # what the stats step writes, training reads


# ------------------------------------------------------------------ training


@pytest.mark.parametrize(
    "std, message",
    [
        # inputs of 20 / 1e-38 overflow float32: the first loss is NaN
        (1e-38, "epoch 1/1, step 1/1: the training loss is nan"),
        # a finite loss, but BatchNorm's running variance overflows
        (1e-20, "epoch 1/1, step 1/1: down.0.1.running_var holds NaN or infinity"),
    ],
)
def test_a_diverging_training_stops_with_one_line_and_writes_no_model(
    tmp_path, capsys, std, message
):
    _dataset(tmp_path, n=2)
    stats = json.loads((tmp_path / "stats.json").read_text())
    stats["std"] = [std] * 20  # finite and > 0: accepted, but no meaningful scale
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    settings = json.dumps({**TINY, "epochs": 1})
    assert main(_cli_args(tmp_path) + ["--settings", settings, "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after numpy's overflow warning
    assert err.startswith(f"dstl-hpc train: error: group roads (all): {message}; stopped, no model")
    assert not any((tmp_path / n).exists() for n in ("m.pt", "m.csv", "c.pt"))


def _meta(n_in=3):
    return {
        "hparams": {"filters_base": 2, "top_scale": 2, "dropout": 0.0, "patch_border": 0},
        "classes": [1], "channels": NAMES[:n_in], "mean": [0.0] * n_in, "std": [1.0] * n_in,
        "group": "g", "variant": "all", "epochs_done": 1,
    }  # fmt: skip


def test_the_model_and_checkpoint_writers_refuse_non_finite_weights(tmp_path):
    net = UNet(3, 1, filters_base=2, border=0)
    with torch.no_grad():
        net.head.weight[0, 0, 0, 0] = float("nan")
    out = tmp_path / "model.pt"
    with pytest.raises(DstlError) as err:
        save_model_file(out, net, _meta())
    assert str(err.value).startswith(f"{out}: not written: state_dict.head.weight holds NaN")
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(DstlError, match="model.head.weight holds NaN"):
        save_checkpoint(ckpt, {"format": 1, "model": net.state_dict()})
    assert not out.exists() and not ckpt.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left either
    # a model file of NaN weights written by anything else is refused when read
    state = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, **_meta(), "format": 1}, out)
    with pytest.raises(DstlError, match=f"{out}: state_dict.head.weight holds NaN"):
        read_model_obj(out)


# ------------------------------------------------------------------ HDF5 files


def _prediction(path, prob, **attrs):
    attrs = {"classes": [5], "image_id": "6010_0_0", "scale": 255, **attrs}
    with h5py.File(path, "w") as h5:
        h5.create_dataset("prob", data=prob)
        for key, value in attrs.items():
            if value is not None:
                h5.attrs[key] = value
    return path


BAD_PREDICTIONS = {
    "float NaN": (np.full((1, 16, 16), np.nan, np.float32), {}, "'prob' is float32"),
    "float values": (np.full((1, 16, 16), 0.9, np.float64), {}, "'prob' is float64"),
    "2-D": (np.zeros((16, 16), np.uint8), {}, "'prob' is uint8 of shape (16, 16)"),
    "planes": (np.zeros((2, 16, 16), np.uint8), {}, "2 prob planes for classes [5]"),
    "repeated class": (np.zeros((2, 16, 16), np.uint8), {"classes": [5, 5]}, "2 prob planes"),
    "no classes": (np.zeros((1, 16, 16), np.uint8), {"classes": None}, "no 'classes' attr"),
    "no image id": (np.zeros((1, 16, 16), np.uint8), {"image_id": None}, "no 'image_id' attr"),
    "scale": (np.zeros((1, 16, 16), np.uint8), {"scale": 1}, "scale 1 (expected 255)"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICTIONS))
def test_polygonize_refuses_a_prediction_file_outside_the_contract(tmp_path, capsys, case):
    """Before: a float NaN file was polygonised to MULTIPOLYGON EMPTY, exit 0."""
    prob, attrs, message = BAD_PREDICTIONS[case]
    pred = _prediction(tmp_path / "p.h5", prob, **attrs)
    grid = tmp_path / "grid_sizes.csv"
    grid.write_text(",Xmax,Ymin\n6010_0_0,0.009,-0.009\n")
    out = tmp_path / "o.csv"
    args = ["polygonize", str(pred), str(out), "--class", "5", "--grid-sizes", str(grid)]
    assert main([*args, "--threshold", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"error: {pred}: {message}" in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "reader",
    [
        lambda p: read_prediction_plane(p, 5),  # polygonize, sweep
        read_prediction_u8,  # geo-stitch
        read_prediction,
        prediction_group,  # polygonize --threshold-json
        lambda p: dataset_shape(p, "prob"),  # plots, show
    ],
)
def test_every_prediction_reader_checks_the_contract(tmp_path, reader):
    pred = _prediction(tmp_path / "p.h5", np.full((1, 8, 8), np.nan, np.float32))
    with pytest.raises(DstlError, match=f"^{pred}: 'prob' is float32 of shape"):
        reader(pred)


def test_stack_and_mask_readers_check_dtype_shape_and_planes(tmp_path):
    img = np.zeros((4, 8, 8), np.uint16)
    stack = tmp_path / "s.h5"
    with h5py.File(stack, "w") as h5:
        h5.create_dataset("image", data=img.astype(np.float32))
    for read in (read_stack, stack_info, lambda p: h5_shape(p, "image")):
        with pytest.raises(DstlError, match=f"^{stack}: 'image' is float32 of shape"):
            read(stack)
    # channel names that do not match the planes
    write_stack(stack, img, "s", channels=["a", "b", "c", "d"])
    with h5py.File(stack, "a") as h5:
        h5.attrs["channels"] = ["a", "b"]
    with pytest.raises(DstlError, match="4 image planes but 2 channel names"):
        read_stack(stack)
    # a geo chip's valid plane of another size or dtype
    write_stack(stack, img, "s", channels=list("abcd"), valid=np.ones((8, 7), np.uint8))
    with pytest.raises(DstlError, match=r"'valid' is uint8 of shape \(1, 8, 7\)"):
        read_valid(stack)

    mask = tmp_path / "m.h5"
    with h5py.File(mask, "w") as h5:
        h5.create_dataset("mask", data=np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(DstlError, match=f"^{mask}: 'mask' is uint16"):
        read_mask(mask)
    write_mask(mask, np.zeros((2, 8, 8), np.uint8), "m", classes=[1, 2])
    with pytest.raises(DstlError, match=r"no plane of class\(es\) \[3\] \(2 planes\)"):
        read_mask(mask, [1, 3])
    with h5py.File(mask, "a") as h5:
        h5.attrs["classes"] = [1, 2, 3]
    with pytest.raises(DstlError, match="2 mask planes for 3 classes"):
        read_mask(mask)
    # the geo known plane must be the last
    write_mask(mask, np.zeros((2, 8, 8), np.uint8), "m", classes=[1, 2], known=np.ones((8, 8)))
    assert known_plane(mask) == 3
    with h5py.File(mask, "a") as h5:
        h5.attrs["known_plane"] = 2
    with pytest.raises(DstlError, match="known_plane 2 is not the last of 3 planes"):
        known_plane(mask)
