"""The seed's behaviours reproduced as options (lopuhin/kaggle-dstl), and turned on in
config/dstl.yaml: a new Adam at each learning-rate drop (``optimizer_reset``), patches
cut from within the image (``sample_margin``), normalisation stats from the training
images less the validation ones, and the 2-of-3 vote for vehicles."""

import copy
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dstl_hpc.config.settings import merge_settings
from dstl_hpc.prepare.stacks import write_mask, write_stack
from dstl_hpc.train import train
from dstl_hpc.train.sampler import PatchSampler, window_pad
from dstl_hpc.train.schedule import step_schedule
from tests.test_workflow import snakemake

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
MEAN, STD = [0.0] * 4, [1.0] * 4


# ------------------------------------------------------------ optimizer reset


def _adam_after_steps(reset: bool, drops_at=(2,)):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(drops_at), gamma=0.2)
    x = torch.randn(8, 3)
    results = []
    for epoch in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
        results.append(step_schedule(opt, sched, reset, epoch + 1))
    return model, opt, x, results


def _one_step(model, opt, x):
    opt.zero_grad()
    model(x).square().sum().backward()
    opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_reset_at_a_drop_leaves_the_optimizer_a_new_adam_at_the_new_rate():
    model, opt, x, cleared = _adam_after_steps(reset=True)
    assert cleared == [False, True]  # the rate dropped after the second epoch only
    assert len(opt.state) == 0 and opt.param_groups[0]["lr"] == pytest.approx(0.002)
    twin = copy.deepcopy(model)
    fresh = torch.optim.Adam(twin.parameters(), lr=0.002)
    got, want = _one_step(model, opt, x), _one_step(twin, fresh, x)
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_without_reset_the_moments_carry_over_the_drop():
    model, opt, x, cleared = _adam_after_steps(reset=False)
    assert cleared == [False, False] and opt.param_groups[0]["lr"] == pytest.approx(0.002)
    assert all(int(s["step"]) == 2 for s in opt.state.values())
    twin = copy.deepcopy(model)
    fresh = torch.optim.Adam(twin.parameters(), lr=0.002)
    got, want = _one_step(model, opt, x), _one_step(twin, fresh, x)
    assert not all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def _tiny_data(root, n=3, size=48):
    rng = np.random.default_rng(0)
    for k in range(n):
        mask = np.zeros((10, size, size), np.uint8)
        mask[0, 10:20, 12:30] = 1
        img = rng.normal(300, 20, (20, size, size)) + 200.0 * mask[0]
        write_stack(root / "stacks" / f"d{k}.h5", img.clip(0).astype(np.uint16), f"d{k}", {})
        write_mask(root / "masks" / f"d{k}.h5", mask, f"d{k}", {})
    return {"channels": [f"c{i}" for i in range(20)], "mean": [300.0] * 20, "std": [100.0] * 20}


@pytest.mark.parametrize("reset", [True, False])
def test_training_resets_adam_at_its_learning_rate_drop(tmp_path, reset):
    """Through ``train``: the checkpoint written after the drop's epoch holds no Adam
    state with optimizer_reset, and the carried-over moments without it."""
    stats = _tiny_data(tmp_path)
    settings = {"classes": [1], "n_channels": 3, "filters_base": 4, "patch_inner": 32,
                "patch_border": 16, "batch_size": 4, "lr": 0.01, "lr_decay_epochs": [1],
                "epochs": 2, "epoch_fraction": 1.0, "valid_tile": 32,
                "optimizer_reset": reset}  # fmt: skip
    seen = {}

    def after_epoch(done):
        ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
        seen[done] = (ckpt["optimizer"]["state"], ckpt["optimizer"]["param_groups"][0]["lr"])

    code = train(
        out=tmp_path / "model.pt", metrics=tmp_path / "metrics.csv",
        checkpoint=tmp_path / "ckpt.pt", stats=stats, stacks_dir=tmp_path / "stacks",
        masks_dir=tmp_path / "masks", train_ids=["d0", "d1", "d2"], group="g",
        variant="all", settings=merge_settings(settings), device="cpu", threads=1,
        hooks={"epoch": after_epoch},
    )  # fmt: skip
    assert code == 0
    state, lr = seen[1]
    assert lr == pytest.approx(0.002)
    if reset:
        assert state == {}
    else:
        assert state and all(int(s["step"]) > 0 for s in state.values())


# ------------------------------------------------------------ sample margin


def _coords_stack(root, name, h, w):
    """A stack whose channels 2 and 3 hold each pixel's row and column."""
    img = np.zeros((20, h, w), np.uint16)
    img[2] = np.arange(h, dtype=np.uint16)[:, None]
    img[3] = np.arange(w, dtype=np.uint16)[None, :]
    mask = np.zeros((10, h, w), np.uint8)
    write_stack(root / f"{name}.h5", img, name, {})
    write_mask(root / f"{name}_mask.h5", mask, name, {})
    return root / f"{name}.h5", root / f"{name}_mask.h5"


def _coords_sampler(tmp_path, h, w, **kw):
    stack, mask = _coords_stack(tmp_path, "im", h, w)
    s = merge_settings({"classes": [1], "n_channels": 4, "patch_inner": 32, "patch_border": 16,
                        "flips": False, **kw})  # fmt: skip
    return PatchSampler([stack], [mask], [1], MEAN, STD, s, True)


def _target_rows_cols(sampler, n=400):
    rng = np.random.default_rng(5)
    rows, cols = [], []
    for _ in range(n):
        x, _ = sampler.sample(rng)
        b, inner = sampler.border, sampler.inner
        rows.append(x[2, b : b + inner, b : b + inner])
        cols.append(x[3, b : b + inner, b : b + inner])
    return np.stack(rows), np.stack(cols)


def test_sample_margin_keeps_every_target_clear_of_the_edges(tmp_path):
    h, w, m = 120, 100, 20
    rows, cols = _target_rows_cols(_coords_sampler(tmp_path, h, w, rotate_deg=0, sample_margin=m))
    assert rows.min() == m and rows.max() == h - 1 - m  # uniform over the inside
    assert cols.min() == m and cols.max() == w - 1 - m
    # without it (the default) targets reach the edges
    rows, cols = _target_rows_cols(_coords_sampler(tmp_path, h, w, rotate_deg=0))
    assert rows.min() == 0 and cols.max() == w - 1


@pytest.mark.parametrize("margin", ["auto", 0])
def test_auto_margin_reads_no_pixel_beyond_the_image_at_any_angle(tmp_path, margin):
    """The device path's crop (the window every angle's patch is sampled from) is an
    unmirrored piece of the image with ``auto``; without a margin some are mirrored."""
    h, w = 150, 140
    sp = _coords_sampler(tmp_path, h, w, rotate_deg=45, sample_margin=margin)
    ws = sp.window_side
    assert sp.margin == (16 + window_pad(64, 45) if margin == "auto" else 0)
    out = np.empty((ws, ws, sp.n_channels + 1), np.uint16)
    rng = np.random.default_rng(2)
    inside = []
    for _ in range(300):
        sp.crop(rng, out)
        rows, cols = out[:, 0, 2].astype(int), out[0, :, 3].astype(int)
        inside.append(
            np.array_equal(rows, rows[0] + np.arange(ws))
            and np.array_equal(cols, cols[0] + np.arange(ws))
        )
    assert all(inside) if margin == "auto" else not all(inside)


def test_an_image_too_small_for_the_margin_is_named_and_keeps_what_it_can(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.train"):
        sp = _coords_sampler(tmp_path, 60, 200, rotate_deg=0, sample_margin=20)
    assert "im.h5" in caplog.text and "too small" in caplog.text
    rows, cols = _target_rows_cols(sp, 200)
    assert rows.min() == 14 and rows.max() == 60 - 1 - 14  # (60 - 32) // 2 on each side
    assert cols.min() >= 20 and cols.max() <= 200 - 1 - 20


# ------------------------------------------------------------ normalisation stats


def test_stats_come_from_the_training_images_less_the_validation_ones(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    proc = snakemake(tmp_path, cfg, "-n", "-p", "results/stats.json")
    command = next(ln for ln in proc.stdout.splitlines() if "dstl_hpc stats" in ln)
    used = re.findall(r"/(\w+)\.h5", command)
    train = [f"6010_{k // 5}_{k % 5}" for k in range(cfg["synthetic"]["train_images"])]
    assert used == train[:-2]  # the demo's validation ids: the last two training ids


# ------------------------------------------------------------ config/dstl.yaml


def test_dstl_config_turns_the_seed_options_on():
    cfg = yaml.safe_load((ROOT / "config/dstl.yaml").read_text())
    for name, group in cfg["groups"].items():
        merged = {**cfg["defaults"], **group}
        s = merge_settings({k: v for k, v in merged.items() if not k.endswith("_resources")
                            and k not in ("members", "ensemble")})  # fmt: skip
        assert s["optimizer_reset"] is True and s["sample_margin"] == "auto", name
    vehicles = cfg["groups"]["vehicles"]
    assert vehicles["members"] == 3 and vehicles["ensemble"] == "median"
    assert all("members" not in g for n, g in cfg["groups"].items() if n != "vehicles")
