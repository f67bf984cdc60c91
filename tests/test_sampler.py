import pickle

import numpy as np
import pytest
import torch

from dstl_hpc.config.settings import merge_settings
from dstl_hpc.errors import DstlError
from dstl_hpc.memory import decide_in_memory
from dstl_hpc.prepare.stacks import write_mask, write_stack
from dstl_hpc.train.batches import PatchDataset
from dstl_hpc.train.sampler import PatchSampler

torch.set_num_threads(1)

# Channel 0 encodes class 3, channel 1 class 5 (1000 * mask + 100); channels 2 and 3 encode
# the pixel's row and column (1000 + 10 * index).
MEAN = [50.0, 80.0, 1000.0, 1000.0]
STD = [500.0, 250.0, 10.0, 10.0]


def _blobs(rng, h, w, n, size):
    m = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        if rng.random() < 0.5:
            m[(np.abs(yy - cy) < size) & (np.abs(xx - cx) < size * 0.6)] = 1
        else:
            m[(yy - cy) ** 2 + (xx - cx) ** 2 < size**2] = 1
    return m


def _write(root, image_id, h, w, seed, n=6, size=9):
    rng = np.random.default_rng(seed)
    mask = np.zeros((10, h, w), np.uint8)
    mask[2] = _blobs(rng, h, w, n, size)
    mask[4] = _blobs(rng, h, w, n, size)
    mask[0] = 1  # a class the group does not use
    img = rng.integers(0, 4000, (20, h, w)).astype(np.uint16)
    img[0] = 1000 * mask[2].astype(np.uint16) + 100
    img[1] = 1000 * mask[4].astype(np.uint16) + 100
    img[2] = 1000 + 10 * np.arange(h, dtype=np.uint16)[:, None]
    img[3] = 1000 + 10 * np.arange(w, dtype=np.uint16)[None, :]
    write_stack(root / "stacks" / f"{image_id}.h5", img, image_id, {})
    write_mask(root / "masks" / f"{image_id}.h5", mask, image_id, {})
    return root / "stacks" / f"{image_id}.h5", root / "masks" / f"{image_id}.h5"


def _sampler(tmp_path, sizes, in_memory=True, **settings):
    pairs = [_write(tmp_path, f"im{k}", h, w, k) for k, (h, w) in enumerate(sizes)]
    s = merge_settings(
        {"classes": [3, 5], "n_channels": 4, "patch_inner": 32, "patch_border": 16, **settings}
    )
    stacks, masks = zip(*pairs, strict=True)
    return PatchSampler(stacks, masks, [3, 5], MEAN, STD, s, in_memory)


def _raw(x, c):
    return x[c] * STD[c] + MEAN[c]


@pytest.mark.parametrize("in_memory", [True, False])
def test_target_is_the_centre_of_the_image_derived_mask(tmp_path, in_memory):
    # Rotations, flips, and an image smaller than the 64 px window (mirror-padded).
    sp = _sampler(tmp_path, [(150, 130), (40, 50)], in_memory, rotate_deg=180.0, flips=True)
    assert sp.in_memory is in_memory
    rng = np.random.default_rng(1)
    bad = total = soft = 0
    for _ in range(40):
        x, y = sp.sample(rng)
        assert x.shape == (4, 64, 64) and y.shape == (2, 32, 32)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert y.min() >= 0 and y.max() <= 1
        for k, c in enumerate((0, 1)):
            derived = (_raw(x, c) - 100.0) / 1000.0
            diff = np.abs(derived[16:48, 16:48] - y[k])
            bad += int((diff > 1e-4).sum())
            total += diff.size
        soft += int(((y > 0.01) & (y < 0.99)).sum())
    assert bad == 0 and total == 40 * 2 * 32 * 32
    assert soft > 0  # rotated masks are soft labels


def _jacobian(x):
    rows = (_raw(x, 2) - 1000.0) / 10.0
    cols = (_raw(x, 3) - 1000.0) / 10.0
    c = 32
    j = np.array(
        [
            [(rows[c + 1, c] - rows[c - 1, c]) / 2, (rows[c, c + 1] - rows[c, c - 1]) / 2],
            [(cols[c + 1, c] - cols[c - 1, c]) / 2, (cols[c, c + 1] - cols[c, c - 1]) / 2],
        ]
    )
    return j, rows[c, c], cols[c, c]


def test_patches_are_rigid_rotations_of_the_image(tmp_path):
    sp = _sampler(tmp_path, [(200, 180)], rotate_deg=10.0, flips=False)
    rng = np.random.default_rng(2)
    angles = []
    for _ in range(30):
        x, _ = sp.sample(rng)
        j, r, c = _jacobian(x)
        np.testing.assert_allclose(j @ j.T, np.eye(2), atol=0.05)  # a rotation...
        assert np.linalg.det(j) > 0.9  # ...without reflection (no flips)
        angle = np.degrees(np.arctan2(j[1, 0], j[0, 0]))
        assert abs(angle) <= 10.5
        angles.append(angle)
        # the patch centre is the target's centre, which lies inside the image
        assert 15 <= r <= 200 - 15 and 15 <= c <= 180 - 15
    assert np.std(angles) > 2


def test_unrotated_patches_are_exact_crops_and_flips_reflect(tmp_path):
    sp = _sampler(tmp_path, [(200, 180)], rotate_deg=0.0, flips=False)
    rng = np.random.default_rng(3)
    for _ in range(10):
        x, _ = sp.sample(rng)
        j, _, _ = _jacobian(x)
        np.testing.assert_allclose(j, np.eye(2), atol=1e-4)
        # normalisation with the stats: channel 0 is exactly (1000 m + 100 - 50) / 500
        assert (np.isclose(x[0], 0.1) | np.isclose(x[0], 2.1)).all()
    sp = _sampler(tmp_path, [(200, 180)], rotate_deg=0.0, flips=True)
    dets = {round(float(np.linalg.det(_jacobian(sp.sample(rng)[0])[0]))) for _ in range(20)}
    assert dets == {-1, 1}


def test_jitter_scales_each_channel(tmp_path):
    sp = _sampler(tmp_path, [(200, 180)], rotate_deg=0.0, flips=False, jitter=0.1)
    rng = np.random.default_rng(4)
    lows = []
    for _ in range(10):
        x, _ = sp.sample(rng)
        vals = np.unique(np.round(_raw(x, 0), 2))
        lows.append(vals[0])
        if len(vals) == 2:
            assert vals[1] / vals[0] == pytest.approx(11.0, rel=1e-4)
    assert np.std(lows) > 1  # factor varies around 1 (100 * f)


def test_oversample_finds_positive_patches(tmp_path):
    def run(p):
        sp = _sampler(tmp_path, [(150, 150)], rotate_deg=0.0, oversample=p)
        # a single small object of class 3, nothing of class 5
        sp.masks[0][:] = 0
        sp.masks[0][0, 70:78, 100:108] = 1
        rng = np.random.default_rng(5)
        return [float(sp.sample(rng)[1].max()) for _ in range(20)]

    assert min(run(1.0)) >= 0.5
    assert sum(v >= 0.5 for v in run(0.0)) < 10


def test_hdf5_and_memory_give_the_same_patches_and_are_deterministic(tmp_path):
    mem = _sampler(tmp_path, [(90, 120), (64, 40)], True)
    disk = _sampler(tmp_path, [(90, 120), (64, 40)], False)
    for seed in range(10):
        a = mem.sample(np.random.default_rng(seed))
        b = disk.sample(np.random.default_rng(seed))
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # picklable for DataLoader workers (open HDF5 handles are dropped)
    clone = pickle.loads(pickle.dumps(disk))
    c = clone.sample(np.random.default_rng(3))
    assert np.array_equal(c[0], disk.sample(np.random.default_rng(3))[0])
    ds = PatchDataset(disk, 8, seed=7)
    assert torch.equal(ds[3][0], ds[3][0])
    first = ds[3][0]
    ds.set_epoch(1)
    assert not torch.equal(first, ds[3][0])
    assert ds.state() == {"seed": 7, "epoch": 1, "length": 8}


def test_in_memory_decision_and_errors(tmp_path):
    assert decide_in_memory(True, 10**15) is True
    assert decide_in_memory(False, 1) is False
    assert decide_in_memory("auto", 1) is True
    assert decide_in_memory("auto", 10**18) is False
    s = merge_settings({"classes": [3], "n_channels": 4})
    st, mk = _write(tmp_path, "a", 40, 40, 0)
    with pytest.raises(DstlError, match="missing.h5: file not found"):
        PatchSampler([tmp_path / "missing.h5"], [mk], [3], MEAN, STD, s)
    other_st, other_mk = _write(tmp_path, "b", 40, 48, 1)
    with pytest.raises(DstlError, match="differs"):
        PatchSampler([st], [other_mk], [3], MEAN, STD, s)
