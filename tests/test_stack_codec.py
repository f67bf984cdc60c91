"""The stacks' codec (issue 21): Blosc LZ4HC by default for stacks and masks, exact round
trips, older gzip and uncompressed stacks still read, patch windows equal to numpy
slices, no hand-imported hdf5plugin needed, and ``stack_compression`` reaching the
align and geo-chips jobs."""

from __future__ import annotations

import pickle
import subprocess
import sys

import h5py
import hdf5plugin
import numpy as np
import pytest

from dstl_hpc.cli import build_parser
from dstl_hpc.config.settings import merge_settings
from dstl_hpc.predict.tiles import reflect_indices
from dstl_hpc.prepare.stacks import (
    DEFAULT_COMPRESSION,
    STACK_COMPRESSION,
    read_mask,
    read_stack,
    read_valid,
    write_mask,
    write_stack,
)
from dstl_hpc.train.sampler import PatchSampler
from tests.test_geo_prepare import geo_config
from tests.test_workflow import ROOT, snakemake, tiny_config

LZ4HC = 2  # Blosc's compressor code of LZ4HC (the last of the filter's parameters)
MEAN, STD = [300.0] * 20, [50.0] * 20


def filters(path, name: str) -> list[tuple[int, tuple]]:
    """(HDF5 filter id, parameters) of a dataset's filter pipeline, in order."""
    with h5py.File(path, "r") as h5:
        plist = h5[name].id.get_create_plist()
        return [plist.get_filter(k)[0:3:2] for k in range(plist.get_nfilters())]


def is_blosc_lz4hc_shuffled(path, name: str) -> bool:
    (only,) = filters(path, name)
    code, values = only
    # Blosc's parameters: ..., clevel, shuffle (1: byte shuffle), compressor
    return code == hdf5plugin.BLOSC_ID and values[-1] == LZ4HC and values[-2] == 1


def image(h=150, w=170, channels=20, seed=0) -> np.ndarray:
    """uint16 planes over the whole range (both bytes vary, like 11-bit imagery and more)."""
    rng = np.random.default_rng(seed)
    smooth = np.linspace(0, 2000, h * w).reshape(h, w)
    img = smooth[None] + rng.integers(0, 400, (channels, h, w))
    img[0, :3, :3] = [[0, 65535, 1], [65534, 2, 3], [4, 5, 6]]
    return img.astype(np.uint16)


def masks(h=150, w=170, n=10, seed=1) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, h, w)) > 0.8).astype(np.uint8)


def test_the_default_is_blosc_lz4hc():
    assert DEFAULT_COMPRESSION == "blosc-lz4hc"
    assert set(STACK_COMPRESSION) == {"blosc-lz4hc", "gzip", "none"}


def test_default_stack_and_mask_round_trip_exactly_in_blosc_lz4hc(tmp_path):
    img, msk = image(channels=6), masks(n=4)
    valid = np.ones(img.shape[1:], np.uint8)
    valid[:, :9] = 0
    known = (np.arange(img.shape[2]) < 100)[None].repeat(img.shape[1], 0).astype(np.uint8)
    write_stack(tmp_path / "s.h5", img, "c", channels=list("abcdef"), valid=valid)
    write_mask(tmp_path / "m.h5", msk, "c", classes=[1, 2, 3, 4], known=known)
    assert np.array_equal(read_stack(tmp_path / "s.h5"), img)
    assert read_stack(tmp_path / "s.h5").dtype == np.uint16
    assert np.array_equal(read_valid(tmp_path / "s.h5"), valid)
    assert np.array_equal(read_mask(tmp_path / "m.h5"), np.concatenate([msk, known[None]]))
    assert np.array_equal(read_mask(tmp_path / "m.h5", [2, 4]), msk[[1, 3]])
    for path, name in ((tmp_path / "s.h5", "image"), (tmp_path / "s.h5", "valid")):
        assert is_blosc_lz4hc_shuffled(path, name), filters(path, name)
    assert is_blosc_lz4hc_shuffled(tmp_path / "m.h5", "mask")
    with h5py.File(tmp_path / "s.h5", "r") as h5:
        assert h5["image"].chunks == (4, 64, 64)
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        assert h5["mask"].chunks == (1, 128, 128)


def test_blosc_stacks_are_about_as_small_as_gzip(tmp_path):
    """Smooth imagery with pixel noise: LZ4HC + shuffle within 1.5x of gzip 1 + shuffle."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:256, :256]
    field = 1000 + 300 * np.sin(yy / 17.0) * np.cos(xx / 23.0)
    img = (field[None] + rng.normal(0, 3, (20, 256, 256))).astype(np.uint16)
    for c in ("blosc-lz4hc", "gzip", "none"):
        write_stack(tmp_path / f"{c}.h5", img, "a", {}, c)
    size = {c: (tmp_path / f"{c}.h5").stat().st_size for c in ("blosc-lz4hc", "gzip", "none")}
    assert size["blosc-lz4hc"] < 1.5 * size["gzip"] < size["none"]


def test_gzip_uncompressed_and_old_layout_stacks_still_read(tmp_path):
    img, msk = image(), masks()
    write_stack(tmp_path / "gzip.h5", img, "a", {}, "gzip")
    write_stack(tmp_path / "none.h5", img, "a", {}, "none")
    with h5py.File(tmp_path / "old.h5", "w") as h5:  # the layout before (4, 64, 64) chunks
        h5.create_dataset("image", data=img, chunks=(20, 128, 128), compression="gzip")
    with h5py.File(tmp_path / "old_m.h5", "w") as h5:
        h5.create_dataset("mask", data=msk, chunks=(10, 32, 90), compression="gzip")
    assert filters(tmp_path / "gzip.h5", "image")[1][0] == h5py.h5z.FILTER_DEFLATE
    assert filters(tmp_path / "none.h5", "image") == []
    for name in ("gzip", "none", "old"):
        assert np.array_equal(read_stack(tmp_path / f"{name}.h5"), img), name
        assert np.array_equal(read_stack(tmp_path / f"{name}.h5", 12), img[:12]), name
    assert np.array_equal(read_mask(tmp_path / "old_m.h5", [3, 9]), msk[[2, 8]])
    settings = merge_settings({"classes": [3, 9], "n_channels": 12})
    for name in ("gzip", "none", "old"):
        sp = PatchSampler(
            [tmp_path / f"{name}.h5"], [tmp_path / "old_m.h5"], [3, 9], MEAN, STD, settings, False
        )
        want = np.concatenate([img[:12], msk[[2, 8]]]).transpose(1, 2, 0)
        assert np.array_equal(sp._raw_window(0, 10, 110, 20, 140), want[10:110, 20:140])


@pytest.mark.parametrize(
    "window",
    [
        (0, 138, 0, 138),
        (5, 143, 30, 168),
        (64, 128, 64, 128),
        (-20, 118, 100, 238),
        (140, 160, -5, 9),
    ],
)
def test_a_window_read_equals_the_numpy_slice(tmp_path, window):
    """The training read path (from disk, ``in_memory`` false) on default stacks and
    masks: the window of all its channels and class planes, mirrored outside the image."""
    img, msk = image(), masks()
    write_stack(tmp_path / "s.h5", img, "a", {})
    write_mask(tmp_path / "m.h5", msk, "a", {})
    assert is_blosc_lz4hc_shuffled(tmp_path / "s.h5", "image")
    settings = merge_settings({"classes": [2, 7], "n_channels": 12})
    sp = PatchSampler([tmp_path / "s.h5"], [tmp_path / "m.h5"], [2, 7], MEAN, STD, settings, False)
    assert not sp.in_memory
    y0, y1, x0, x1 = window
    ry, rx = reflect_indices(y0, y1 - y0, 150), reflect_indices(x0, x1 - x0, 170)
    planes = np.concatenate([img[:12], msk[[1, 6]]])
    want = planes[:, ry][:, :, rx].transpose(1, 2, 0)
    got = sp._raw_window(0, y0, y1, x0, x1)
    assert got.dtype == np.uint16 and np.array_equal(got, want)


def test_readers_need_no_hand_imported_hdf5plugin(tmp_path):
    """A fresh process (a spawned DataLoader worker, a user's script) that imports only
    the project reads Blosc stacks: the filter is registered by the stacks module."""
    img, msk = image(), masks()
    with h5py.File(tmp_path / "s.h5", "w") as h5:
        h5.create_dataset("image", data=img, chunks=(4, 64, 64), **hdf5plugin.Blosc("lz4hc", 4))
    write_mask(tmp_path / "m.h5", msk, "a", {})
    settings = merge_settings({"classes": [2], "n_channels": 12})
    sp = PatchSampler([tmp_path / "s.h5"], [tmp_path / "m.h5"], [2], MEAN, STD, settings, False)
    (tmp_path / "sampler.pkl").write_bytes(pickle.dumps(sp))
    code = (
        "import pickle, sys\n"
        "assert 'hdf5plugin' not in sys.modules\n"
        f"sp = pickle.loads(open({str(tmp_path / 'sampler.pkl')!r}, 'rb').read())\n"
        "w = sp._raw_window(0, 0, 50, 0, 60)\n"
        "from dstl_hpc.prepare.stacks import read_stack\n"
        f"print(int(w[..., :12].sum()), int(read_stack({str(tmp_path / 's.h5')!r}).sum()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [int(v) for v in proc.stdout.split()]
    assert got == [int(img[:12, :50, :60].sum()), int(img.sum())]


def test_the_commands_default_to_blosc_and_refuse_other_codecs(capsys):
    align = build_parser("align").parse_args(["align", "data", "6120_2_2", "out.h5"])
    assert align.compression == "blosc-lz4hc"
    chips = ["geo-chips", "c.json", "s__0_0", "--stacks-out", "s", "--masks-out", "m"]
    assert build_parser("geo-chips").parse_args(chips).compression == "blosc-lz4hc"
    with pytest.raises(SystemExit) as exc:
        build_parser("geo-chips").parse_args([*chips, "--compression", "zip"])
    assert exc.value.code == 2
    assert "invalid choice: 'zip'" in capsys.readouterr().err


def _compressions(proc, rule: str) -> set[str]:
    """The --compression value of each ``rule`` job's shell command in a dry run."""
    out = proc.stdout + proc.stderr
    lines = [line for line in out.splitlines() if f"dstl_hpc {rule} " in line]
    assert lines, out[-3000:]
    return {line.split("--compression ")[1].split()[0] for line in lines}


@pytest.mark.parametrize("value", [None, "gzip"])
def test_stack_compression_reaches_the_align_and_geo_chips_jobs(tmp_path, value):
    want = value or "blosc-lz4hc"
    for source, cfg, rule in (
        ("dstl", tiny_config(), "align"),
        ("geo", geo_config(), "geo-chips"),
    ):
        if value is not None:
            cfg["stack_compression"] = value
        workdir = tmp_path / source
        workdir.mkdir()
        proc = snakemake(workdir, cfg, "-n", "-p")
        assert _compressions(proc, rule) == {want}, source
