"""Band alignment (dstl_hpc.prepare.align) and ``dstl-hpc align``: accuracy, conventions, errors."""

from __future__ import annotations

import json
import logging
import time

import cv2
import h5py
import numpy as np
import pytest
import tifffile

from dstl_hpc.cli import main
from dstl_hpc.prepare import align
from dstl_hpc.prepare.align import AlignmentFailed, AlignOptions, align_image, estimate_shift
from dstl_hpc.sources.dstl import CHANNELS, Layout

SIZE = 768  # RGB and P; M 192 (1/4), A 32 (1/24)
BAND_SIZES = {"P": (SIZE, SIZE), "M": (SIZE // 4, SIZE // 4), "A": (SIZE // 24, SIZE // 24)}
MARGIN = 64
TOL = {"P": 0.15, "M": 0.15, "A": 0.3}
OFFSETS = {  # band px: (dx, dy)
    "small": {"P": (0.37, -0.81), "M": (1.23, -0.58), "A": (0.41, -0.66)},
    "large": {"P": (-2.2, 1.7), "M": (-4.6, 3.3), "A": (1.35, 0.9)},
}


def scene(size: int = SIZE, margin: int = MARGIN, seed: int = 0) -> np.ndarray:
    """Smoothed multi-scale noise plus rectangles and discs, (size + 2 margin)^2 float32."""
    rng = np.random.default_rng(seed)
    n = size + 2 * margin
    img = np.zeros((n, n), np.float32)
    for scale, amp in ((96, 1.0), (24, 0.7), (6, 0.5), (2, 0.3)):
        small = rng.standard_normal((n // scale + 2, n // scale + 2)).astype(np.float32)
        img += amp * cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)
    for _ in range(n * n // 2500):
        x, y = (int(v) for v in rng.integers(0, n, 2))
        a, b = (int(v) for v in rng.integers(4, 40, 2))
        value = float(rng.uniform(-2.5, 2.5))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + a, y + b), value, -1)
        else:
            cv2.circle(img, (x, y), a // 2, value, -1)
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def displace(big: np.ndarray, dx: float, dy: float, shape, size: int = SIZE, margin: int = MARGIN):
    """The RGB-frame crop of ``big`` shifted so that a feature at RGB (x, y) lies in the band
    of ``shape`` (h, w) at (x * w / size + dx, y * h / size + dy): translation at RGB
    resolution, then pixel-area downsampling (the pixel-centre convention)."""
    h, w = shape
    sx, sy = dx * size / w, dy * size / h
    # dst(X) = big(X + margin - s): the content moves by +s RGB px.
    matrix = np.array([[1.0, 0.0, margin - sx], [0.0, 1.0, margin - sy]])
    shifted = cv2.warpAffine(
        big, matrix, (size, size), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    )
    if (h, w) == (size, size):
        return shifted
    return cv2.resize(shifted, (w, h), interpolation=cv2.INTER_AREA)


def to_dn(plane: np.ndarray, gain: float, offset: float, noise: float, rng) -> np.ndarray:
    out = plane * gain + offset + rng.standard_normal(plane.shape).astype(np.float32) * noise
    return np.clip(np.rint(out), 0, 65535).astype(np.uint16)


def make_image(offsets: dict, seed: int = 0, size: int = SIZE, margin: int = MARGIN):
    """(rgb, p, m, a) uint16 with the band contents displaced by ``offsets``."""
    rng = np.random.default_rng(seed + 100)
    big = scene(size, margin, seed)
    sizes = {
        "P": (size, size),
        "M": (size // 4, size // 4),
        "A": (max(2, size // 24), max(2, size // 24)),
    }
    base = big[margin : margin + size, margin : margin + size]
    rgb = np.stack([to_dn(base, g, 400, 3, rng) for g in (60, 70, 55)])
    p = to_dn(displace(big, *offsets["P"], sizes["P"], size, margin), 80, 300, 3, rng)
    m_plane = displace(big, *offsets["M"], sizes["M"], size, margin)
    m = np.stack([to_dn(m_plane, 50 + 5 * c, 300, 2, rng) for c in range(8)])
    a_plane = displace(big, *offsets["A"], sizes["A"], size, margin)
    a = np.stack([to_dn(a_plane, 400 + 20 * c, 3000, 10, rng) for c in range(8)])
    return rgb, p, m, a


@pytest.fixture(scope="module")
def images():
    return {name: make_image(off, seed=i) for i, (name, off) in enumerate(OFFSETS.items())}


@pytest.fixture(scope="module")
def aligned(images):
    return {name: align_image(*imgs, image_id=name) for name, imgs in images.items()}


def write_tiff(path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"planarconfig": "separate"} if arr.ndim == 3 else {}
    tifffile.imwrite(path, arr, photometric="minisblack", **kwargs)


def write_image(root, image_id, rgb, p, m, a) -> Layout:
    layout = Layout(root)
    write_tiff(layout.three_band(image_id), rgb)
    for band, arr in (("P", p), ("M", m), ("A", a)):
        write_tiff(layout.sixteen_band(image_id, band), arr)
    return layout


def corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel().astype(np.float64), y.ravel().astype(np.float64))[0, 1])


# ------------------------------------------------------------------ accuracy


@pytest.mark.parametrize("name", list(OFFSETS))
@pytest.mark.parametrize("band", ["P", "M", "A"])
def test_estimated_offsets_match_the_truth(aligned, name, band):
    _, alignment = aligned[name]
    entry = alignment[band]
    dx, dy = OFFSETS[name][band]
    assert entry["converged"] is True
    assert 0.5 < entry["cc"] <= 1.0
    assert abs(entry["dx"] - dx) < TOL[band], entry
    assert abs(entry["dy"] - dy) < TOL[band], entry


@pytest.mark.parametrize("gauss", [1, 5])
def test_estimate_shift_sign_convention(gauss):
    """A feature at reference (x, y) is at (x + dx, y + dy) in the moving image."""
    big = scene(256, 32, seed=5)
    ref = big[32:-32, 32:-32]
    mov = displace(big, 1.75, -0.5, (256, 256), 256, 32)
    dx, dy, cc = estimate_shift(ref, mov, AlignOptions(gauss_filt_size=gauss))
    # ECC's bilinear warp biases sharp content by up to ~0.05 px
    assert dx == pytest.approx(1.75, abs=0.07)
    assert dy == pytest.approx(-0.5, abs=0.07)
    assert cc > 0.99


def test_large_offsets_need_the_coarse_estimate():
    big = scene(256, 48, seed=6)
    ref = big[48:-48, 48:-48]
    mov = displace(big, 17.3, -12.6, (256, 256), 256, 48)
    dx, dy, _ = estimate_shift(ref, mov, AlignOptions(min_shift_limit=30))
    assert (dx, dy) == pytest.approx((17.3, -12.6), abs=0.1)


def test_ecc_limit_cycle_ends_quickly():
    """A periodic (wrapped) shift made OpenCV's ECC oscillate at 1e-8 for all 5000
    iterations (66 s); the chunked run stops once the translation stops moving."""
    img = scene(384, 0, seed=2)
    f = np.fft.fft2(img)
    ky = np.fft.fftfreq(img.shape[0])[:, None]
    kx = np.fft.fftfreq(img.shape[1])[None, :]
    mov = np.real(np.fft.ifft2(f * np.exp(-2j * np.pi * (kx * 20.2 + ky * 3.3))))
    start = time.perf_counter()
    dx, dy, _ = estimate_shift(img, mov.astype(np.float32), AlignOptions(max_shift_frac=0.2))
    assert time.perf_counter() - start < 10
    assert (dx, dy) == pytest.approx((20.2, 3.3), abs=0.15)


# ---------------------------------------------------------- pixel convention


def test_upscaled_band_lines_up_with_rgb_at_pixel_centres():
    """A square's centroid in RGB, in the band (x * w / W + dx) and after alignment."""
    size, margin = 480, 48
    big = np.zeros((size + 2 * margin,) * 2, np.float32)
    x0, y0 = 201, 157  # RGB square [x0, x0 + 40) x [y0, y0 + 24), centroid (x0 + 20, y0 + 12)
    big[margin + y0 : margin + y0 + 24, margin + x0 : margin + x0 + 40] = 1.0
    shift = (1.6, -0.85)
    band = displace(big, *shift, (size // 4, size // 4), size, margin)

    def centroid(img, x1, x2, y1, y2):  # of the window [x1, x2) x [y1, y2), pixel centres
        img = img[y1:y2, x1:x2]
        ys, xs = np.mgrid[y1:y2, x1:x2]
        return (xs + 0.5).ravel() @ img.ravel() / img.sum(), (
            ys + 0.5
        ).ravel() @ img.ravel() / img.sum()

    cx, cy = centroid(band, 0, size // 4, 0, size // 4)
    assert cx == pytest.approx((x0 + 20) / 4 + shift[0], abs=0.02)
    assert cy == pytest.approx((y0 + 12) / 4 + shift[1], abs=0.02)
    for mode in ("direct", "two_step"):
        # (an offset keeps cubic ringing above 0, away from uint16 clipping)
        up = align.resample_band(band[None] * 1000 + 500, shift, (size, size), mode)[0]
        # window around the square, away from the mean-filled borders
        ux, uy = centroid(up - 500.0, x0 - 30, x0 + 70, y0 - 30, y0 + 54)
        assert (ux, uy) == pytest.approx((x0 + 20, y0 + 12), abs=0.1), mode


def test_direct_resampling_without_shift_is_cubic_resize():
    rng = np.random.default_rng(1)
    band = (rng.random((2, 30, 40)) * 1000).astype(np.uint16)
    up = align.resample_band(band, (0.0, 0.0), (120, 160))
    ref = cv2.resize(band[0], (160, 120), interpolation=cv2.INTER_CUBIC)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(up[0][inner].astype(int) - ref[inner].astype(int)).max() <= 1


@pytest.mark.parametrize("mode", ["direct", "two_step"])
def test_pixels_left_empty_get_the_band_mean(mode):
    band = np.full((1, 40, 50), 100, np.uint16)
    band[0, :, 25:] = 300  # mean 200
    up = align.resample_band(band, (3.0, -2.0), (160, 200), mode)[0]
    # Content moved right by 3 band px: the last 3 band columns (12 px) are empty,
    # moved up by 2: the first 2 band rows (8 px) are empty (two_step: the cubic
    # upscaling blends 1.5 band px next to the edge).
    edge = 12 if mode == "direct" else 6
    assert np.all(up[:, -edge:] == 200)
    assert np.all(up[: edge - 4, :] == 200)
    assert up[60, 100] == 300 and up[60, 20] == 100
    assert np.all(up > 0)


def test_stack_channels_and_uint16_range(images, aligned):
    rgb, p, m, a = images["small"]
    stack, _ = aligned["small"]
    assert stack.dtype == np.uint16 and stack.shape == (20, SIZE, SIZE)
    assert np.array_equal(stack[:3], rgb)
    # each upscaled channel keeps its band's level
    for c, src in [(3, p)] + [(4 + i, m[i]) for i in range(8)] + [(12 + i, a[i]) for i in range(8)]:
        assert abs(float(stack[c].mean()) - float(src.mean())) < 0.02 * float(src.mean()) + 5


def test_aligned_m_correlates_better_with_rgb(images, aligned):
    rgb, p, m, a = images["large"]
    stack, alignment = aligned["large"]
    unaligned = {b: {"dx": 0.0, "dy": 0.0} for b in ("P", "M", "A")}
    plain = align.assemble_stack(rgb, p, m, a, unaligned)
    grey = rgb.astype(np.float64).mean(axis=0)
    inner = (slice(32, -32), slice(32, -32))
    for c in range(4, 12):
        before, after = corr(plain[c][inner], grey[inner]), corr(stack[c][inner], grey[inner])
        assert after > before + 0.05, (c, before, after)
        assert after > 0.9
    assert corr(stack[3][inner], grey[inner]) > corr(plain[3][inner], grey[inner])


# ------------------------------------------------------------ failures


def test_constant_band_is_flagged_and_warned(images, caplog):
    rgb, p, m, a = images["small"]
    m_flat = np.full_like(m, 777)
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.prepare.align"):
        stack, alignment = align_image(rgb, p, m_flat, a, image_id="6100_1_2")
    assert alignment["M"] == {"dx": 0.0, "dy": 0.0, "cc": None, "converged": False}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("6100_1_2" in w and "band M" in w for w in warnings), warnings
    assert np.all(stack[4:12] == 777)
    # A falls back to RGB and still aligns
    assert alignment["A"]["converged"] is True
    assert abs(alignment["A"]["dx"] - OFFSETS["small"]["A"][0]) < TOL["A"]
    json.dumps(alignment)  # JSON-able (None, not NaN)


def test_unrelated_band_is_not_aligned(images, caplog):
    rgb, p, m, a = images["small"]
    rng = np.random.default_rng(3)
    noise = (rng.random(p.shape) * 1000).astype(np.uint16)
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.prepare.align"):
        _, alignment = align_image(rgb, noise, m, a, image_id="x", options=AlignOptions())
    entry = alignment["P"]
    # ECC on pure noise either fails or stays near 0 with a very low correlation
    if entry["converged"]:
        assert entry["cc"] < 0.2
    else:
        assert any("band P" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("size", [2, 3, 5, 16])
def test_tiny_bands_do_not_crash(images, size):
    rgb, p, m, a = images["small"]
    a_small = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in a])
    stack, alignment = align_image(rgb, p, m, a_small, image_id="tiny")
    assert stack.shape == (20, SIZE, SIZE)
    assert set(alignment["A"]) == {"dx", "dy", "cc", "converged"}


def test_p_of_another_size_than_rgb():
    """Real P images can differ from RGB by a few pixels: the reference is resized to P's
    size and P is resampled to RGB's (non-integer scale)."""
    big = scene(SIZE, MARGIN, seed=8)
    rgb = np.stack(
        [(big[MARGIN:-MARGIN, MARGIN:-MARGIN] * g + 500).astype(np.uint16) for g in (60, 70, 55)]
    )
    p_shape = (SIZE - 5, SIZE + 3)
    p = (displace(big, 0.8, -1.1, p_shape) * 80 + 400).astype(np.uint16)
    _, m, a = (None, *make_image(OFFSETS["small"], seed=8)[2:])
    stack, alignment = align_image(rgb, p, m, a, image_id="psize")
    assert stack.shape == (20, SIZE, SIZE)
    assert alignment["P"]["dx"] == pytest.approx(0.8, abs=TOL["P"])
    assert alignment["P"]["dy"] == pytest.approx(-1.1, abs=TOL["P"])
    inner = (slice(16, -16), slice(16, -16))
    assert corr(stack[3][inner], rgb[0][inner]) > 0.98


def test_demo_size_image_runs(caplog):
    rgb, p, m, a = make_image(OFFSETS["small"], seed=4, size=384, margin=32)
    assert a.shape == (8, 16, 16)
    stack, alignment = align_image(rgb, p, m, a, image_id="demo")
    assert stack.shape == (20, 384, 384)
    for band in ("P", "M"):
        assert alignment[band]["converged"]
        assert abs(alignment[band]["dx"] - OFFSETS["small"][band][0]) < TOL[band]


def test_gauss_filter_is_capped_for_small_bands():
    assert align.gauss_size(5, (3348, 3392)) == 5
    assert align.gauss_size(5, (134, 136)) == 5
    assert align.gauss_size(5, (60, 60)) == 3
    assert align.gauss_size(5, (31, 31)) == 1
    assert align.gauss_size(1, (837, 848)) == 1
    assert all(align.gauss_size(g, (s, s)) % 2 == 1 for g in (1, 3, 5, 7) for s in range(2, 200))


def test_unit_scale_and_options():
    with pytest.raises(AlignmentFailed):
        align.unit_scale(np.full((8, 8), 5, np.uint16))
    x = align.unit_scale(np.arange(100, dtype=np.uint16).reshape(10, 10))
    assert x.dtype == np.float32 and x.min() == 0 and x.max() == 1
    with pytest.raises(ValueError):
        AlignOptions(gauss_filt_size=4).validate()
    with pytest.raises(ValueError):
        align_image(np.zeros((3, 8, 8)), np.zeros((8, 8)), np.zeros((3, 2, 2)), np.zeros((8, 2, 2)))


# ------------------------------------------------------------------- CLI


def test_cli_writes_the_stack(tmp_path, images):
    rgb, p, m, a = images["small"]
    write_image(tmp_path / "data", "6120_2_2", rgb, p, m, a)
    out = tmp_path / "stacks" / "6120_2_2.h5"
    rc = main(["align", str(tmp_path / "data"), "6120_2_2", str(out), "--threads", "1"])
    assert rc == 0
    assert cv2.getNumThreads() == 1
    with h5py.File(out, "r") as h5:
        ds = h5["image"]
        assert ds.dtype == np.uint16 and ds.shape == (20, SIZE, SIZE)
        assert ds.chunks == (4, 64, 64)
        assert ds.compression is not None
        assert list(h5.attrs["channels"]) == list(CHANNELS)
        assert h5.attrs["image_id"] == "6120_2_2"
        alignment = json.loads(h5.attrs["alignment"])
        assert np.array_equal(ds[:3], rgb)
    assert set(alignment) == {"P", "M", "A"}
    for band, entry in alignment.items():
        assert set(entry) == {"dx", "dy", "cc", "converged"}
        assert entry["converged"] is True
        assert abs(entry["dx"] - OFFSETS["small"][band][0]) < TOL[band]
        assert abs(entry["dy"] - OFFSETS["small"][band][1]) < TOL[band]
    assert sorted(p.name for p in out.parent.iterdir()) == ["6120_2_2.h5"]


def test_cli_out_dir_aligns_each_image_as_alone(tmp_path, images):
    rgb, p, m, a = images["small"]
    for i, image_id in enumerate(("6120_2_2", "6120_2_3")):
        write_image(tmp_path / "data", image_id, rgb, np.roll(p, i, axis=1), m, a)
    data = str(tmp_path / "data")
    part = tmp_path / "stacks" / "part0"
    assert main(["align", data, "6120_2_2", "6120_2_3", "--out-dir", str(part)]) == 0
    assert sorted(f.name for f in part.iterdir()) == ["6120_2_2.h5", "6120_2_3.h5"]
    for image_id in ("6120_2_2", "6120_2_3"):
        alone = tmp_path / f"alone_{image_id}.h5"
        assert main(["align", data, image_id, str(alone)]) == 0
        with h5py.File(alone, "r") as one, h5py.File(part / f"{image_id}.h5", "r") as many:
            assert many.attrs["image_id"] == image_id
            assert np.array_equal(one["image"][:], many["image"][:])
            assert one.attrs["alignment"] == many.attrs["alignment"]


def test_cli_uncompressed_stacks_hold_the_same_pixels(tmp_path, images):
    rgb, p, m, a = images["small"]
    write_image(tmp_path / "data", "6120_2_2", rgb, p, m, a)
    data = str(tmp_path / "data")
    paths = {c: tmp_path / c / "6120_2_2.h5" for c in ("gzip", "none")}
    for c, out in paths.items():
        assert main(["align", data, "6120_2_2", str(out), "--compression", c]) == 0
    with h5py.File(paths["gzip"], "r") as z, h5py.File(paths["none"], "r") as raw:
        assert z["image"].compression == "gzip" and raw["image"].compression is None
        assert raw["image"].chunks == z["image"].chunks
        assert np.array_equal(z["image"][:], raw["image"][:])
    assert paths["none"].stat().st_size > 2 * paths["gzip"].stat().st_size


@pytest.mark.parametrize(
    "args, message",
    [
        (["6120_2_2"], "give IMAGE_ID OUT.h5"),
        (["6120_2_2", "6120_2_2", "--out-dir", "{tmp}/part"], "given twice"),
        (["6120_2_2", "--out-dir", "{tmp}/data/three_band"], "data"),
    ],
)
def test_cli_out_dir_refusals(tmp_path, images, capsys, args, message):
    rgb, p, m, a = images["small"]
    write_image(tmp_path / "data", "6120_2_2", rgb, p, m, a)
    before = sorted(str(f) for f in tmp_path.rglob("*"))
    capsys.readouterr()
    args = [x.format(tmp=tmp_path) for x in args]
    assert main(["align", str(tmp_path / "data"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert sorted(str(f) for f in tmp_path.rglob("*")) == before


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _wrong_shape(path):
    write_tiff(path, np.zeros((3, 20, 20), np.uint16))


@pytest.mark.parametrize(
    "band, damage",
    [
        ("P", lambda path: path.unlink()),
        ("three", lambda path: path.unlink()),
        ("A", _truncate),
        ("M", _truncate),
        ("M", _wrong_shape),
        ("P", _wrong_shape),
    ],
)
def test_cli_bad_input_is_one_line_and_no_output(tmp_path, capsys, band, damage):
    rng = np.random.default_rng(0)
    image_id = "6010_0_0"
    layout = write_image(
        tmp_path / "data",
        image_id,
        (rng.random((3, 48, 48)) * 1000).astype(np.uint16),
        (rng.random((48, 48)) * 1000).astype(np.uint16),
        (rng.random((8, 12, 12)) * 1000).astype(np.uint16),
        (rng.random((8, 4, 4)) * 1000).astype(np.uint16),
    )
    path = layout.three_band(image_id) if band == "three" else layout.sixteen_band(image_id, band)
    damage(path)
    out_dir = tmp_path / "stacks"
    out_dir.mkdir()
    capsys.readouterr()
    rc = main(["align", str(tmp_path / "data"), image_id, str(out_dir / f"{image_id}.h5")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(path) in err[0]
    assert list(out_dir.iterdir()) == []


# ------------------------------------------------------------------ synth


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    synth = pytest.importorskip("dstl_hpc.sources.synthetic")
    root = tmp_path_factory.mktemp("synth_align") / "data"
    truth = synth.generate(root, n_images=3, n_train=2, size=(768, 768), seed=11)
    return root, truth


def test_alignment_matches_synth_truth(synth_data, tmp_path):
    root, truth = synth_data
    layout = Layout(root)
    assert set(truth["offsets"]) == set(truth["train_ids"] + truth["test_ids"])
    for n, (image_id, offsets) in enumerate(truth["offsets"].items()):
        if n == 0:  # one through the command line
            out = tmp_path / f"{image_id}.h5"
            assert main(["align", str(root), image_id, str(out)]) == 0
            with h5py.File(out, "r") as h5:
                alignment = json.loads(h5.attrs["alignment"])
        else:
            from dstl_hpc.sources.dstl import read_band, read_rgb

            rgb = read_rgb(layout, image_id)
            bands = [read_band(layout, image_id, b) for b in ("P", "M", "A")]
            alignment = align.estimate_alignment(rgb, *bands, image_id=image_id)
        for band in ("P", "M", "A"):
            entry, true = alignment[band], offsets[band]
            assert entry["converged"], (image_id, band)
            assert abs(entry["dx"] - true["dx"]) < TOL[band], (image_id, band, entry, true)
            assert abs(entry["dy"] - true["dy"]) < TOL[band], (image_id, band, entry, true)
