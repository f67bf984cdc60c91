"""dstl_hpc.sources.geo.stitch: chip probabilities blended back into one probability COG."""

import tracemalloc

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from dstl_hpc.sources.geo.chips import chip_windows
from dstl_hpc.sources.geo.grid import SceneGrid
from dstl_hpc.sources.geo.stitch import (
    blend_weights,
    cog_info,
    neighbour_overlaps,
    read_cog_window,
    stitch_cog,
)

CLASSES = ["building", "road"]


def grid_of(height, width):
    transform = from_origin(500000.0, 4000000.0, 2.0, 2.0)
    return SceneGrid(CRS.from_epsg(32631).to_wkt(), tuple(transform)[:6], height, width)


def chips_of(field, chips, valid=None):
    """read_chip for a float (N, H, W) field in [0, 1]: each chip cut from it, p * 255."""

    def read_chip(i):
        _, _, y, x, h, w = chips[i]
        prob = np.rint(field[:, y : y + h, x : x + w] * 255).astype(np.uint8)
        ok = np.ones((h, w), np.uint8) if valid is None else valid[i]
        return prob, ok

    return read_chip


def test_blend_weights_ramp_over_shared_pixels_and_sum_to_one():
    left = blend_weights(4, 10, {"right": 3})
    right = blend_weights(4, 10, {"left": 3})
    assert left.dtype == np.float32 and left.shape == (4, 10)
    np.testing.assert_allclose(left[0, 7:], [0.75, 0.5, 0.25])
    np.testing.assert_allclose(right[0, :3], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(left[:, 7:] + right[:, :3], 1.0)
    assert (blend_weights(4, 10, {}) == 1).all()  # no neighbour: no ramp at the scene's edge
    corner = blend_weights(8, 8, {"top": 7, "bottom": 7, "left": 7, "right": 7})
    assert corner.min() > 0


def test_neighbour_overlaps_include_the_aligned_last_chip():
    chips = chip_windows(100, 40, 32, 8)  # rows at 0, 24, 48, 68 (last aligned to 100)
    sides = dict(zip([(c[0], c[1]) for c in chips], neighbour_overlaps(chips), strict=True))
    assert sides[(0, 0)] == {"bottom": 8, "right": 24}
    assert sides[(3, 1)] == {"top": 12, "left": 24}


def test_a_field_cut_into_chips_comes_back_without_a_seam(tmp_path):
    H, W = 150, 130
    y, x = np.mgrid[:H, :W]
    field = np.stack([(x + y) / (H + W), np.full((H, W), 0.5)])
    chips = chip_windows(H, W, 48, 12)
    out = stitch_cog(tmp_path / "p.tif", grid_of(H, W), CLASSES, chips, chips_of(field, chips))
    prob, valid = read_cog_window(out)
    assert valid.all() and prob.dtype == np.float32
    assert np.abs(prob - field).max() <= 1 / 254
    assert (prob[1] == 0.5).all()  # a constant field comes back constant
    # no step at the chip borders: the ramp's increments are all the same (within rounding)
    step = np.diff(prob[0], axis=1)
    assert np.abs(step - 1 / (H + W)).max() <= 1.01 / 254
    part, part_valid = read_cog_window(out, (40, 30, 20, 25))
    np.testing.assert_array_equal(part, prob[:, 40:60, 30:55])


def test_two_different_chips_blend_monotonically_over_their_overlap(tmp_path):
    H, W, S, overlap = 32, 56, 32, 8  # two chips side by side sharing 8 columns (24 .. 31)
    chips = chip_windows(H, W, S, overlap)
    assert [c[3] for c in chips] == [0, 24]

    def read_chip(i):
        value = (51, 204)[chips[i][1]]  # p = 0.2 left, 0.8 right
        return np.full((1, S, S), value, np.uint8), np.ones((S, S), np.uint8)

    out = stitch_cog(tmp_path / "p.tif", grid_of(H, W), ["a"], chips, read_chip)
    prob, _ = read_cog_window(out)
    row = prob[0, 0]
    assert (prob[0] == row).all()
    assert row[:24] == pytest.approx(0.2, abs=0.5 / 254)
    assert row[32:] == pytest.approx(0.8, abs=0.5 / 254)
    blend = row[23:33]
    assert (np.diff(blend) > 0).all()
    # linear: weights (i + 1) / 9 for the right chip over the 8 shared columns
    np.testing.assert_allclose(row[24:32], 0.2 + 0.6 * np.arange(1, 9) / 9, atol=0.5 / 254)


def test_invalid_and_uncovered_pixels_are_nodata(tmp_path):
    H, W = 40, 64
    chips = chip_windows(H, W, 40, 16)  # columns at 0 and 24: shared columns 24 .. 39
    field = np.full((1, H, W), 0.25)
    valid = [np.ones((40, 40), np.uint8) for _ in chips]
    valid[0][:10, :5] = 0  # only chip 0 covers these: nodata
    valid[0][20:30, 30:35] = 0  # chip 1 covers these too: its value
    out = stitch_cog(tmp_path / "p.tif", grid_of(H, W), ["a"], chips, chips_of(field, chips, valid))
    prob, ok = read_cog_window(out)
    expected = np.ones((H, W), bool)
    expected[:10, :5] = False
    np.testing.assert_array_equal(ok, expected)
    assert np.abs(prob[0][ok] - 0.25).max() <= 1 / 254 and (prob[0][~ok] == 0).all()
    with rasterio.open(out) as src:
        assert (src.read(1)[:10, :5] == 255).all()
    # a chip left out: what only it covers is nodata
    out2 = stitch_cog(tmp_path / "q.tif", grid_of(H, W), ["a"], chips[:1], chips_of(field, chips))
    _, ok2 = read_cog_window(out2)
    assert ok2[:, :40].all() and not ok2[:, 40:].any()


def test_the_output_is_a_cog_on_the_scene_grid(tmp_path):
    H, W = 1100, 1030
    grid = grid_of(H, W)
    chips = chip_windows(H, W, 512, 64)

    def read_chip(i):
        h, w = chips[i][4:]
        return np.full((2, h, w), 100, np.uint8), np.ones((h, w), np.uint8)

    out = stitch_cog(tmp_path / "scene1.tif", grid, CLASSES, chips, read_chip)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene1.tif"]  # no temporaries
    with rasterio.open(out) as src:
        assert src.driver == "GTiff" and src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.overviews(1) and src.overviews(2)
        assert src.crs == grid.crs and src.transform == grid.affine
        assert (src.height, src.width, src.count) == (H, W, 2)
        assert src.nodata == 255 and src.dtypes == ("uint8", "uint8")
        assert src.descriptions == tuple(CLASSES)
        assert src.scales == pytest.approx((1 / 254, 1 / 254))
        assert src.compression.name == "deflate"
    info = cog_info(out)
    assert info["class_names"] == CLASSES and info["shape"] == (2, H, W)
    assert info["grid"] == SceneGrid(grid.crs.to_wkt(), grid.transform, H, W)
    assert info["crs"] == grid.crs and info["transform"] == grid.affine


def test_temporaries_are_removed_when_a_chip_fails(tmp_path):
    chips = chip_windows(64, 64, 32, 8)

    def read_chip(i):
        if i == 3:
            raise RuntimeError("chip 3 is broken")
        return np.zeros((1, 32, 32), np.uint8), np.ones((32, 32), np.uint8)

    with pytest.raises(RuntimeError, match="chip 3"):
        stitch_cog(tmp_path / "p.tif", grid_of(64, 64), ["a"], chips, read_chip)
    assert list(tmp_path.iterdir()) == []


def test_a_chip_of_the_wrong_shape_is_refused(tmp_path):
    chips = chip_windows(64, 64, 32, 8)
    with pytest.raises(ValueError, match=r"chip 0 \(0, 0\): got prob \(1, 32, 32\)"):
        stitch_cog(
            tmp_path / "p.tif",
            grid_of(64, 64),
            ["a", "b"],
            chips,
            lambda i: (np.zeros((1, 32, 32), np.uint8), np.ones((32, 32), np.uint8)),
        )
    assert list(tmp_path.iterdir()) == []


def test_memory_stays_far_below_the_scene(tmp_path):
    H = W = 4096
    chips = chip_windows(H, W, 512, 64)

    def read_chip(i):
        h, w = chips[i][4:]
        return np.full((1, h, w), 51, np.uint8), np.ones((h, w), np.uint8)

    tracemalloc.start()
    try:
        stitch_cog(tmp_path / "big.tif", grid_of(H, W), ["a"], chips, read_chip)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    scene_float = H * W * 4
    assert peak < 0.3 * scene_float, f"peak {peak / 1e6:.1f} MB"
    prob, valid = read_cog_window(tmp_path / "big.tif", (4000, 4000, 96, 96))
    assert valid.all() and np.abs(prob - 0.2).max() <= 0.5 / 254
