"""The device path (augment_on: device): the DataLoader crops, grid_sample rotates."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dstl_hpc.config.settings import AUGMENT_ON, SETTINGS, merge_settings
from dstl_hpc.prepare.stacks import write_mask, write_stack
from dstl_hpc.train.augment import DeviceAugment, resolve_augment_on
from dstl_hpc.train.batches import CropBatches, PatchBatches, PatchDataset
from dstl_hpc.train.sampler import PatchSampler, window_pad

torch.set_num_threads(1)

MEAN = [300.0 + 10 * c for c in range(20)]
STD = [50.0 + c for c in range(20)]
CLASSES = [2, 7]
SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _smooth(rng, h, w):
    """A smooth uint16 field (bilinear interpolation of it hardly depends on sub-pixel
    positions: cv2 rounds them to 1/32 px, grid_sample does not)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    f = np.zeros((h, w))
    for _ in range(3):
        ky, kx = rng.uniform(-0.08, 0.08, 2)
        f += rng.uniform(100, 300) * np.sin(ky * yy + kx * xx + rng.uniform(0, 6.3))
    return (1000 + f).astype(np.uint16)


def _write(root: Path, name: str, h: int, w: int, seed: int, smooth: bool):
    rng = np.random.default_rng(seed)
    if smooth:
        img = np.stack([_smooth(rng, h, w) for _ in range(20)])
    else:
        img = rng.integers(0, 3000, (20, h, w)).astype(np.uint16)
    mask = np.zeros((10, h, w), np.uint8)
    for _ in range(max(1, h * w // 400)):
        y, x = rng.integers(0, h), rng.integers(0, w)
        mask[rng.integers(10), y : y + rng.integers(3, 12), x : x + rng.integers(3, 12)] = 1
    write_stack(root / f"s{name}.h5", img, name, {})
    write_mask(root / f"m{name}.h5", mask, name, {})
    return root / f"s{name}.h5", root / f"m{name}.h5"


def _sampler(root, sizes, smooth=True, in_memory=True, **kw):
    pairs = [_write(root, str(k), h, w, k, smooth) for k, (h, w) in enumerate(sizes)]
    s = merge_settings(
        {"classes": CLASSES, "n_channels": 12, "patch_inner": 32, "patch_border": 16, **kw}
    )
    stacks, masks = zip(*pairs, strict=True)
    return PatchSampler(stacks, masks, CLASSES, MEAN, STD, s, in_memory)


def _norm(raw):
    mean = np.float32(MEAN[:12]).reshape(-1, 1, 1)
    return (raw.astype(np.float32) - mean) / np.float32(STD[:12]).reshape(-1, 1, 1)


def _cpu_and_device(sp, n=32, seed=3):
    ds = PatchDataset(sp, n, seed=seed)
    x, y = PatchBatches(ds, n)[0]
    windows, draws = CropBatches(ds, n)[0]
    dx, dy = DeviceAugment(sp, "cpu")(windows, draws)
    return (x, y), (dx, dy), (windows, draws)


def test_window_holds_the_patch_at_any_angle():
    assert window_pad(64, 0.0) == 1
    assert window_pad(96, 180.0) == 21  # 96 + 2 * 21 = 138 px
    assert window_pad(96, 15.0) < window_pad(96, 45.0) == window_pad(96, 90.0)
    for side, rot in ((64, 180.0), (96, 20.0), (96, 45.0)):
        pad = window_pad(side, rot)
        rad = np.radians(min(rot, 45.0))
        reach = (side / 2 - 0.5) * (np.cos(rad) + np.sin(rad)) + 0.5  # farthest sample
        # bilinear reads floor and floor + 1 of every sample: all inside the window
        assert side / 2 + pad - 1 >= reach >= side / 2 + pad - 3


@pytest.mark.parametrize("in_memory", [True, False])
def test_quarter_turns_and_flips_are_exact_rot90_and_flip_of_the_crop(tmp_path, in_memory):
    sp = _sampler(tmp_path, [(200, 190)], smooth=False, in_memory=in_memory, rotate_deg=180.0)
    windows, draws = CropBatches(PatchDataset(sp, 16, seed=1), 16)[0]
    pad, side, nc = (sp.window_side - sp.side) // 2, sp.side, sp.n_channels
    crop = windows[:, pad : pad + side, pad : pad + side].permute(0, 3, 1, 2).numpy()
    cases = [(k * 90.0, h, v) for k in (-1, 0, 1, 2) for h in (0, 1) for v in (0, 1)]
    draws = draws.clone()
    draws[:, 0], draws[:, 1], draws[:, 2] = torch.tensor(cases).T
    draws[:, 3:] = 1.0
    x, y = DeviceAugment(sp, "cpu")(windows, draws)
    for j, (angle, hflip, vflip) in enumerate(cases):
        # CPU convention (tests/test_feed.py): +90 degrees is np.rot90 k=1; then the flips
        ref = np.rot90(crop[j], int(angle // 90), axes=(1, 2))
        ref = ref[:, :, ::-1] if hflip else ref
        ref = ref[:, ::-1] if vflip else ref
        # float32 grids place samples within ~1e-5 px of the pixel centres: on this noise
        # (neighbours up to 60 std apart) that is up to ~6e-4
        np.testing.assert_allclose(x[j].numpy(), _norm(ref[:nc]), rtol=0, atol=1e-3)
        target = ref[nc:, 16:48, 16:48].astype(np.float32)
        assert torch.equal(y[j], torch.from_numpy(target))  # exactly 0 / 1


@pytest.mark.parametrize("in_memory", [True, False])
def test_device_patches_are_the_cpu_patches(tmp_path, in_memory):
    # Same draws (angle, flips, jitter, position, oversampling), same patches up to
    # cv2's 1/32 px rounding of sampling positions; an image smaller than the window
    # is mirrored as on the CPU path.
    sp = _sampler(
        tmp_path,
        [(150, 130), (40, 50)],
        in_memory=in_memory,
        rotate_deg=180.0,
        flips=True,
        jitter=0.1,
        oversample=0.5,
    )
    (x, y), (dx, dy), (_, draws) = _cpu_and_device(sp)
    assert dx.shape == x.shape == (32, 12, 64, 64) and dy.shape == y.shape == (32, 2, 32, 32)
    assert dx.dtype == dy.dtype == torch.float32
    assert (draws[:, 0].abs() <= 180).all() and {0.0, 1.0} == set(draws[:, 1].tolist())
    # cv2 samples within 1/64 px of the exact position along each axis: the patches
    # differ by a small fraction of the difference between neighbouring pixels
    step = (x[..., 1:] - x[..., :-1]).abs()
    assert float((dx - x).abs().max()) < float(step.max()) / 32
    assert float((dx - x).abs().mean()) < float(step.mean()) / 32
    assert 0 <= float(dy.min()) and float(dy.max()) <= 1
    assert float((dy - y).abs().max()) <= 1 / 32 + 1 / 1024
    assert float(((dy >= 0.5) != (y >= 0.5)).float().mean()) < 1e-3
    assert float(dy.sum()) > 0


def test_crops_follow_the_cpu_draws_and_sources_agree(tmp_path):
    mem = _sampler(tmp_path, [(120, 100), (64, 80)], smooth=False, rotate_deg=30.0, jitter=0.2)
    disk = _sampler(tmp_path, [(120, 100), (64, 80)], smooth=False, in_memory=False,
                    rotate_deg=30.0, jitter=0.2)  # fmt: skip
    out = np.empty((mem.window_side, mem.window_side, 14), np.uint16)
    for seed in range(8):
        row = mem.crop(np.random.default_rng(seed), out)
        d = mem._draws(np.random.default_rng(seed))
        assert row[0] == d.angle and (row[1], row[2]) == (d.hflip, d.vflip)
        np.testing.assert_array_equal(row[3:], d.factor)
        other = np.empty_like(out)
        assert np.array_equal(disk.crop(np.random.default_rng(seed), other), row)
        assert np.array_equal(other, out)


def test_oversampled_device_targets_hold_the_object(tmp_path):
    sp = _sampler(tmp_path, [(150, 150)], rotate_deg=180.0, oversample=1.0)
    sp.masks[0][:] = 0
    sp.masks[0][0, 70:78, 100:108] = 1  # one small object of class 2
    (_, y), (_, dy), _ = _cpu_and_device(sp, n=16)
    assert (y.amax((1, 2, 3)) >= 0.5).all()
    assert (dy.amax((1, 2, 3)) >= 0.5).all()


def test_augment_on_setting_and_schema_agree():
    assert SETTINGS["augment_on"][0] == "auto"
    assert resolve_augment_on("auto", torch.device("cpu")) == "cpu"
    assert resolve_augment_on("auto", torch.device("cuda")) == "device"
    assert resolve_augment_on("device", "cpu") == "device"
    assert resolve_augment_on("cpu", "cuda") == "cpu"
    schema = yaml.safe_load(SCHEMA.read_text())
    entry = schema["$defs"]["settings"]["properties"]["augment_on"]
    assert tuple(entry["enum"]) == AUGMENT_ON and entry["description"]
