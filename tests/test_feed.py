"""The fast patch path against a reference computation, and the HDF5 chunk layout."""

import math

import h5py
import numpy as np
import pytest

from dstl_hpc.config.settings import merge_settings
from dstl_hpc.prepare.stacks import read_mask, read_stack, write_mask, write_stack
from dstl_hpc.train.batches import PatchDataset
from dstl_hpc.train.sampler import PatchSampler

MEAN = [300.0 + 10 * c for c in range(20)]
STD = [50.0 + c for c in range(20)]


def _data(tmp_path, h=160, w=150, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 3000, (20, h, w)).astype(np.uint16)
    mask = (rng.random((10, h, w)) > 0.7).astype(np.uint8)
    write_stack(tmp_path / "s.h5", img, "a", {})
    write_mask(tmp_path / "m.h5", mask, "a", {})
    return img, mask


def _sampler(tmp_path, in_memory, **kw):
    s = merge_settings(
        {"classes": [2, 7], "n_channels": 12, "patch_inner": 32, "patch_border": 16, **kw}
    )
    return PatchSampler([tmp_path / "s.h5"], [tmp_path / "m.h5"], [2, 7], MEAN, STD, s, in_memory)


def _draws(rng, h, w, inner, rotate_deg):
    """The generator's draws of one patch, in the sampler's order."""
    rng.integers(1)
    ty = int(rng.integers(min(0, h - inner), max(0, h - inner) + 1))
    tx = int(rng.integers(min(0, w - inner), max(0, w - inner) + 1))
    angle = float(rng.uniform(-rotate_deg, rotate_deg)) if rotate_deg else 0.0
    return ty, tx, angle


def _norm(raw):
    return (raw.astype(np.float32) - np.float32(MEAN[:12]).reshape(-1, 1, 1)) / np.float32(
        STD[:12]
    ).reshape(-1, 1, 1)


@pytest.mark.parametrize("in_memory", [True, False])
def test_zero_rotation_is_the_normalised_crop(tmp_path, in_memory):
    img, mask = _data(tmp_path)
    sp = _sampler(tmp_path, in_memory, rotate_deg=0.0, flips=False)
    for seed in range(20):
        x, y = sp.sample(np.random.default_rng(seed))
        ty, tx, _ = _draws(np.random.default_rng(seed), 160, 150, 32, 0.0)
        pad = np.pad(img[:12], ((0, 0), (16, 16), (16, 16)), mode="reflect")
        ref = _norm(pad[:, ty : ty + 64, tx : tx + 64])
        np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-6)
        assert np.array_equal(y, mask[[1, 6], ty : ty + 32, tx : tx + 32].astype(np.float32))


class _QuarterTurn:
    """A generator whose draws are those of ``rng`` except that the angle is +-90."""

    def __init__(self, rng, sign):
        self.rng, self.sign = rng, sign

    def integers(self, *a):
        return self.rng.integers(*a)

    def uniform(self, *_):
        self.rng.uniform()
        return math.copysign(90.0, self.sign)

    def random(self):
        return self.rng.random()


@pytest.mark.parametrize("in_memory", [True, False])
def test_quarter_turns_are_exact_rot90_of_the_crop(tmp_path, in_memory):
    # With the angle forced to +-90 degrees the warp must equal np.rot90 of the crop
    # (grid points map to grid points: no interpolation, no border).
    img, mask = _data(tmp_path, 200, 190, 1)
    sp = _sampler(tmp_path, in_memory, rotate_deg=90.0, flips=False)
    found = 0
    for seed in range(400):
        ty, tx, angle = _draws(np.random.default_rng(seed), 200, 190, 32, 90.0)
        if not (16 <= ty <= 200 - 48 and 16 <= tx <= 190 - 48):
            continue
        sp_angle = angle
        sp.rotate_deg = 90.0
        x, y = sp.sample(_QuarterTurn(np.random.default_rng(seed), sp_angle))
        crop = img[:12, ty - 16 : ty + 48, tx - 16 : tx + 48]
        # destination (u, v) reads the source at centre + R(angle) d, d = (v, u) from the
        # centre: at +90 degrees out[u, v] = crop[v, S - 1 - u], which is np.rot90 k=1
        k = 1 if sp_angle > 0 else -1
        ref = _norm(np.rot90(crop, k, axes=(1, 2)))
        np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-5)
        mref = np.rot90(mask[[1, 6], ty : ty + 32, tx : tx + 32], k, axes=(1, 2))
        np.testing.assert_allclose(y, mref.astype(np.float32), atol=1e-6)
        found += 1
    assert found > 20


def test_patches_depend_only_on_seed_epoch_index_not_on_the_source(tmp_path):
    _data(tmp_path, 300, 260, 2)
    for kw in ({"rotate_deg": 180.0, "flips": True}, {"rotate_deg": 15.0, "jitter": 0.1}):
        mem = PatchDataset(_sampler(tmp_path, True, **kw), 64, seed=3)
        disk = PatchDataset(_sampler(tmp_path, False, **kw), 64, seed=3)
        for epoch in (0, 2):
            mem.set_epoch(epoch)
            disk.set_epoch(epoch)
            for i in (0, 5, 63, 17):
                a, b = mem[i], disk[i]
                assert a[0].equal(b[0]) and a[1].equal(b[1])
        assert not mem[5][0].equal(mem[6][0])


def test_in_memory_views_are_planes_of_the_stack(tmp_path):
    img, mask = _data(tmp_path)
    sp = _sampler(tmp_path, True)
    assert sp.images[0].shape == (12, 160, 150)
    assert np.array_equal(sp.images[0], img[:12])
    assert np.array_equal(sp.masks[0], mask[[1, 6]])


def test_stack_chunks_keep_channel_groups_apart(tmp_path):
    img, mask = _data(tmp_path, 300, 280, 3)
    with h5py.File(tmp_path / "s.h5", "r") as h5:
        ds = h5["image"]
        assert ds.chunks == (4, 64, 64)
        assert ds.id.get_create_plist().get_filter(0)[3] == b"blosc"  # the default codec
        # a 12-channel window reads only chunks of channels 0-11
        touched = set()
        for k in range(ds.id.get_num_chunks()):
            info = ds.id.get_chunk_info(k)
            c0, y0, x0 = info.chunk_offset
            if c0 < 12 and y0 < 150 and y0 + 64 > 10 and x0 < 150 and x0 + 64 > 10:
                touched.add(c0)
        assert touched == {0, 4, 8}
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        assert h5["mask"].chunks == (1, 128, 128)
    assert np.array_equal(read_stack(tmp_path / "s.h5", 12), img[:12])
    assert np.array_equal(read_mask(tmp_path / "m.h5", [2, 7]), mask[[1, 6]])


def test_any_chunk_layout_reads_the_same_patches(tmp_path):
    img, mask = _data(tmp_path, 200, 180, 4)
    ref = _sampler(tmp_path, False, rotate_deg=180.0, flips=True)
    other = tmp_path / "other"
    other.mkdir()
    with h5py.File(other / "s.h5", "w") as h5:
        h5.create_dataset("image", data=img, chunks=(20, 128, 128), compression="gzip")
    with h5py.File(other / "m.h5", "w") as h5:
        h5.create_dataset("mask", data=mask, chunks=(10, 32, 90))
    legacy = _sampler(other, False, rotate_deg=180.0, flips=True)
    for seed in range(10):
        a = ref.sample(np.random.default_rng(seed))
        b = legacy.sample(np.random.default_rng(seed))
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_batches_equal_the_collated_patches(tmp_path):
    """PatchBatches hands out the same batches as torch's default collate did, and
    the training therefore sees the same data as before the buffers were reused."""
    import torch

    from dstl_hpc.train.batches import PatchBatches

    _data(tmp_path)
    ds = PatchDataset(_sampler(tmp_path, True, rotate_deg=180.0, flips=True), 32, seed=3)
    collated = list(torch.utils.data.DataLoader(ds, batch_size=8, drop_last=True))
    loader = torch.utils.data.DataLoader(PatchBatches(ds, 8), batch_size=None)
    for (x, y), (cx, cy) in zip(loader, collated, strict=True):
        assert torch.equal(x, cx) and torch.equal(y, cy)
    # workers prefetch: their batches must not share (and overwrite) one buffer
    workers = torch.utils.data.DataLoader(
        PatchBatches(ds, 8), batch_size=None, num_workers=2, prefetch_factor=2
    )
    held = [(x, y) for x, y in workers]  # all kept alive at once
    for (x, y), (cx, cy) in zip(held, collated, strict=True):
        assert torch.equal(x, cx) and torch.equal(y, cy)
    batches = PatchBatches(ds, 8)
    assert len(batches) == 4
    first = batches[0][0].clone()
    assert batches[1][0].data_ptr() == batches[0][0].data_ptr()  # one buffer, reused
    assert torch.equal(batches[0][0], first)
