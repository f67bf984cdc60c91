"""The raster side of a geo scene (dstl_hpc.sources.geo.grid, reader, bands, chips): scene
files, grid, chip windows, window reads."""

import os
import time

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.bands import band_signature, check_same_bands
from dstl_hpc.sources.geo.chips import chip_windows
from dstl_hpc.sources.geo.grid import SceneFile, SceneGrid, inspect_files, scene_grid
from dstl_hpc.sources.geo.reader import SceneReader, read_window

UTM = "EPSG:32631"
X0, Y0 = 500000.0, 4000080.0  # top-left of the 2 m file: 40 x 40 px = 80 x 80 m


def write(path, arr, transform, crs=UTM, **kw):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=crs,
        transform=transform,
        **kw,
    ) as dst:
        dst.write(arr)
    return SceneFile(path)


@pytest.fixture
def scene(tmp_path):
    """A 2 m file, a 4 m file with a ramp, an EPSG:4326 file covering a bit more."""
    fine = write(
        tmp_path / "fine.tif", np.full((2, 40, 40), 5, np.uint16), from_origin(X0, Y0, 2, 2)
    )
    ramp = np.broadcast_to(1000 + 40 * np.arange(20), (20, 20)).astype(np.uint16)
    coarse = write(tmp_path / "coarse.tif", ramp, from_origin(X0, Y0, 4, 4))
    w, s, e, n = transform_bounds(UTM, "EPSG:4326", X0 - 20, Y0 - 100, X0 + 100, Y0 + 20)
    geo = write(
        tmp_path / "geo.tif",
        np.full((60, 60), 77, np.uint8),
        from_origin(w, n, (e - w) / 60, (n - s) / 60),
        crs="EPSG:4326",
    )
    return [fine, coarse, geo]


# ------------------------------------------------------------------ grid
def test_grid_is_first_crs_finest_resolution_and_intersection(scene):
    grid = scene_grid(scene)
    assert grid.crs == rasterio.crs.CRS.from_epsg(32631)
    assert grid.resolution == (2.0, 2.0)
    assert (grid.height, grid.width) == (40, 40)
    assert tuple(grid.bounds) == (X0, Y0 - 80, X0 + 80, Y0)
    assert SceneGrid.from_dict(grid.to_dict()) == grid
    assert tuple(grid.window_transform((10, 5, 4, 4)))[:6] == (2, 0, X0 + 10, 0, -2, Y0 - 20)


def test_grid_extent_is_the_intersection_snapped_inward(tmp_path):
    a = write(tmp_path / "a.tif", np.ones((40, 40), np.uint8), from_origin(X0, Y0, 2, 2))
    # 4 m file shifted by 9 m east and 3 m south: its edge at X0 + 9 is inside pixel 4
    b = write(tmp_path / "b.tif", np.ones((30, 30), np.uint8), from_origin(X0 + 9, Y0 - 3, 4, 4))
    grid = scene_grid([a, b])
    assert tuple(grid.bounds) == (X0 + 10, Y0 - 80, X0 + 80, Y0 - 4)
    assert (grid.height, grid.width) == (38, 35)
    coarse = scene_grid([a, b], resolution=4.0)
    assert coarse.resolution == (4.0, 4.0)
    assert tuple(coarse.bounds) == (X0 + 12, Y0 - 80, X0 + 80, Y0 - 4)


def test_disjoint_files_are_an_error_naming_the_file(tmp_path):
    a = write(tmp_path / "a.tif", np.ones((10, 10), np.uint8), from_origin(X0, Y0, 2, 2))
    b = write(tmp_path / "far.tif", np.ones((10, 10), np.uint8), from_origin(X0 + 50, Y0, 2, 2))
    with pytest.raises(DstlError, match=r"far\.tif: does not overlap .*a\.tif"):
        scene_grid([a, b])


# ------------------------------------------------------------------ reading
def test_coarse_band_is_resampled_onto_the_fine_grid(scene):
    grid = scene_grid(scene)
    image, valid = read_window(scene, grid, (0, 0, 40, 40))
    assert image.shape == (4, 40, 40) and image.dtype == np.uint16
    assert valid.dtype == np.uint8 and valid.all()
    assert (image[:2] == 5).all()
    # coarse pixel j (centre at 4j + 2 m) holds 1000 + 40 j: linear in x, so bilinear at
    # the fine pixel k (centre at 2k + 1 m) gives 1000 + 20 k - 10
    k = np.arange(1, 39)
    assert np.abs(image[2][:, 1:39].astype(int) - (1000 + 20 * k - 10)).max() <= 1
    assert (image[3] == 77).all()  # the EPSG:4326 file
    # a window reads the same pixels as the whole grid
    part, _ = read_window(scene, grid, Window(7, 3, 9, 5))
    np.testing.assert_array_equal(part, image[:, 3:8, 7:16])


def test_whole_and_half_pixel_offsets_land_on_the_right_fine_pixels(tmp_path):
    a = np.zeros((40, 40), np.uint8)
    a[20, 20] = 200
    fa = write(tmp_path / "a.tif", a, from_origin(X0, Y0, 2, 2))
    # same resolution, 3 px east: grid anchored at a, starts at its column 3 (nearest)
    b = np.zeros((40, 40), np.uint8)
    b[5, 5] = 200
    fb = write(tmp_path / "b.tif", b, from_origin(X0 + 6, Y0, 2, 2))
    # same resolution, half a pixel (1 m) east: one pixel spread over two (bilinear)
    c = np.zeros((42, 42), np.uint8)
    c[10, 10] = 200
    fc = write(tmp_path / "c.tif", c, from_origin(X0 + 1, Y0, 2, 2))
    # 4 m, 2 m east: a 2 x 2 coarse square (x 18 .. 26 m, y 16 .. 24 m below Y0)
    d = np.zeros((25, 25), np.uint16)
    d[4:6, 4:6] = 1000
    fd = write(tmp_path / "d.tif", d, from_origin(X0 + 2, Y0, 4, 4))
    grid = scene_grid([fa, fb, fc, fd])
    assert tuple(grid.bounds)[0] == X0 + 6 and grid.width == 37
    img, valid = read_window([fa, fb, fc, fd], grid, (0, 0, grid.height, grid.width))
    assert valid.all()
    assert list(zip(*np.nonzero(img[0]), strict=True)) == [(20, 17)]
    assert list(zip(*np.nonzero(img[1]), strict=True)) == [(5, 5)]
    # c's pixel covers x 21 .. 23 m: half of grid pixels x 20 .. 22 (col 7) and 22 .. 24 (col 8)
    assert img[2][10, 7] == img[2][10, 8] == 100 and img[2].sum() == 200
    # d's square covers x 18 .. 26 m = grid cols 6 .. 9 (x - 6) / 2, rows 8 .. 11
    sq = img[3].astype(float)
    rows, cols = np.mgrid[: sq.shape[0], : sq.shape[1]]
    assert (sq * cols).sum() / sq.sum() == pytest.approx(7.5, abs=0.01)
    assert (sq * rows).sum() / sq.sum() == pytest.approx(9.5, abs=0.01)
    assert (sq[9:11, 7:9] == 1000).all() and sq.max() == 1000


def test_nodata_mask_and_alpha_make_valid_zero_exactly_there(tmp_path):
    a = np.full((2, 12, 12), 9, np.uint16)
    a[1, 3, 4] = 0  # nodata in band 2 only: invalid
    fa = write(tmp_path / "nodata.tif", a, from_origin(X0, Y0, 2, 2), nodata=0)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(
            tmp_path / "mask.tif", "w", driver="GTiff", width=12, height=12, count=1,
            dtype="uint8", crs=UTM, transform=from_origin(X0, Y0, 2, 2),
        ) as dst:  # fmt: skip
            dst.write(np.full((1, 12, 12), 3, np.uint8))
            mask = np.full((12, 12), 255, np.uint8)
            mask[8:10, 0:2] = 0
            dst.write_mask(mask)
    rgba = np.full((4, 12, 12), 50, np.uint8)
    rgba[3] = 255
    rgba[3, 11, 11] = 0
    fc = write(
        tmp_path / "rgba.tif", rgba, from_origin(X0, Y0, 2, 2), photometric="RGB", alpha="YES"
    )
    coarse = np.full((6, 6), 400, np.uint16)
    coarse[2, 3] = 65535  # a 4 m nodata pixel: the 2 x 2 fine pixels under it
    fd = write(tmp_path / "coarse.tif", coarse, from_origin(X0, Y0, 4, 4), nodata=65535)
    files = [fa, SceneFile(tmp_path / "mask.tif"), SceneFile(fc.path, (1, 2, 3)), fd]
    grid = scene_grid(files)
    image, valid = read_window(files, grid, (0, 0, 12, 12))
    expected = np.ones((12, 12), np.uint8)
    expected[3, 4] = 0
    expected[8:10, 0:2] = 0
    expected[11, 11] = 0
    expected[4:6, 6:8] = 0
    np.testing.assert_array_equal(valid, expected)
    assert image.shape == (7, 12, 12)
    assert (image[6][valid == 1] == 400).all()
    assert (image[:, valid == 0] == 0).all()
    assert (image[0][valid == 1] == 9).all() and (image[5][valid == 1] == 50).all()


def test_outside_a_files_footprint_is_invalid(tmp_path):
    full = write(tmp_path / "full.tif", np.ones((20, 20), np.uint8), from_origin(X0, Y0, 2, 2))
    # 4326 file covering only the west half: its transformed bounds give the grid, the
    # pixels outside its real footprint are invalid
    w, s, e, n = transform_bounds(UTM, "EPSG:4326", X0, Y0 - 40, X0 + 20, Y0)
    half = write(
        tmp_path / "half.tif",
        np.ones((20, 20), np.uint8),
        from_origin(w, n, (e - w) / 20, (n - s) / 20),
        crs="EPSG:4326",
    )
    grid = scene_grid([full, half], resolution=2.0)
    assert 10 <= grid.width <= 11 and grid.height == 20
    reader_grid = SceneGrid(grid.crs_wkt, grid.transform, 20, 20)  # the whole full.tif
    _, valid = read_window([full, half], reader_grid, (0, 0, 20, 20))
    assert valid[:, :9].all() and not valid[:, 12:].any()


def test_float_bands_need_a_value_range(tmp_path):
    data = np.linspace(-1, 1, 100, dtype=np.float32).reshape(10, 10)
    data[0, 0] = np.nan
    f = write(tmp_path / "ndvi.tif", data, from_origin(X0, Y0, 2, 2))
    grid = scene_grid([f])
    with pytest.raises(DstlError, match=r"ndvi\.tif: band 1 is float32: set data\.value_range"):
        read_window([f], grid, (0, 0, 10, 10))
    image, valid = read_window([f], grid, (0, 0, 10, 10), {0: (-1.0, 1.0)})
    assert valid[0, 0] == 0 and valid.sum() == 99
    expected = np.rint((data.astype(float) + 1) / 2 * 65535)
    assert np.abs(image[0][1:].astype(float) - expected[1:]).max() <= 1
    clipped, _ = read_window([f], grid, (0, 0, 10, 10), (0.0, 1.0))  # one range for all
    assert clipped[0][valid == 1].min() == 0 and clipped[0].max() == 65535


def test_scene_reader_reads_many_windows(scene):
    grid = scene_grid(scene)
    whole, _ = read_window(scene, grid, (0, 0, 40, 40))
    with SceneReader(scene, grid) as reader:
        for _, _, y, x, h, w in chip_windows(40, 40, 16, 4):
            img, valid = reader.read((y, x, h, w))
            np.testing.assert_array_equal(img, whole[:, y : y + h, x : x + w])
        with pytest.raises(ValueError, match="outside"):
            reader.read((30, 30, 16, 16))


# ------------------------------------------------------------------ chip windows
@pytest.mark.parametrize(
    "h, w, size, overlap, rows, cols",
    [(100, 70, 32, 8, 4, 3), (64, 64, 32, 0, 2, 2), (20, 50, 32, 8, 1, 2), (32, 33, 32, 31, 1, 2)],
)
def test_chip_windows_cover_every_pixel_with_full_size_chips(h, w, size, overlap, rows, cols):
    chips = chip_windows(h, w, size, overlap)
    assert len(chips) == rows * cols
    assert {(c[0], c[1]) for c in chips} == {(r, c) for r in range(rows) for c in range(cols)}
    cover = np.zeros((h, w), int)
    for _, _, y, x, ch, cw in chips:
        assert (ch, cw) == (min(size, h), min(size, w))
        cover[y : y + ch, x : x + cw] += 1
    assert (cover >= 1).all()
    last = max(chips)
    assert (last[2] + last[4], last[3] + last[5]) == (h, w)  # aligned to the scene's end
    stride = size - overlap
    assert all(c[3] == c[1] * stride for c in chips if c[1] < cols - 1)


def test_chip_windows_check_the_overlap():
    with pytest.raises(DstlError, match="overlap 32 must be >= 0 and < the chip size 32"):
        chip_windows(100, 100, 32, 32)
    with pytest.raises(DstlError, match="overlap -1"):
        chip_windows(100, 100, 32, -1)


# ------------------------------------------------------------------ bad inputs
def test_no_crs_is_an_error_naming_the_file(tmp_path):
    f = write(
        tmp_path / "nocrs.tif", np.ones((4, 4), np.uint8), from_origin(X0, Y0, 2, 2), crs=None
    )
    with pytest.raises(DstlError, match=r"nocrs\.tif: no CRS"):
        scene_grid([f])


def test_no_geotransform_is_an_error_naming_the_file(tmp_path):
    with rasterio.open(
        tmp_path / "plain.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8"
    ) as dst:
        dst.write(np.ones((1, 4, 4), np.uint8))
    with pytest.raises(DstlError, match=r"plain\.tif: no geotransform \(none\)"):
        inspect_files([SceneFile(tmp_path / "plain.tif")])
    gcps = [GroundControlPoint(0, 0, X0, Y0), GroundControlPoint(4, 4, X0 + 8, Y0 - 8)]
    with rasterio.open(
        tmp_path / "gcps.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
        gcps=gcps, crs=UTM,
    ) as dst:  # fmt: skip
        dst.write(np.ones((1, 4, 4), np.uint8))
    with pytest.raises(DstlError, match=r"gcps\.tif: no geotransform \(only GCPs\)"):
        scene_grid([SceneFile(tmp_path / "gcps.tif")])


def test_band_out_of_range_is_an_error_naming_the_file(scene):
    with pytest.raises(DstlError, match=r"fine\.tif: band 3 out of range \(the file has 2 bands\)"):
        inspect_files([SceneFile(scene[0].path, (1, 3))])


def test_missing_and_not_a_raster_are_errors_naming_the_file(tmp_path):
    with pytest.raises(DstlError, match=r"gone\.tif: file not found"):
        inspect_files([SceneFile(tmp_path / "gone.tif")])
    (tmp_path / "notes.tif").write_text("not an image\n")
    with pytest.raises(DstlError, match=r"notes\.tif: not a raster GDAL can read"):
        inspect_files([SceneFile(tmp_path / "notes.tif")])
    with pytest.raises(DstlError, match=r"a directory, expected a regular file"):
        inspect_files([SceneFile(tmp_path)])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    t = time.monotonic()
    with pytest.raises(
        DstlError, match=r"pipe\.tif: a FIFO \(named pipe\), expected a regular file"
    ):
        inspect_files([SceneFile(fifo)])
    assert time.monotonic() - t < 1


def test_inspect_files_lists_the_chosen_bands(scene, tmp_path):
    with rasterio.open(scene[0].path, "r+") as dst:
        dst.set_band_description(2, "nir")
    bands = inspect_files([SceneFile(scene[0].path, (2,)), scene[2]])
    assert [(b["position"], b["index"], b["dtype"], b["description"]) for b in bands] == [
        (0, 2, "uint16", "nir"),
        (1, 1, "uint8", ""),
    ]
    assert bands[0]["file"] == str(scene[0].path) and bands[0]["nodata"] is None


def test_scenes_must_agree_on_band_count_and_dtype(tmp_path, scene):
    other = write(
        tmp_path / "other_coarse.tif", np.ones((20, 20), np.uint8), from_origin(X0, Y0, 4, 4)
    )
    sig = band_signature(scene)
    assert [s["count"] for s in sig] == [2, 1, 1]
    assert sig[1] == {"count": 1, "dtypes": ["uint16"], "resolution": [4.0, 4.0]}
    assert check_same_bands({"s1": scene, "s2": scene}) == sig
    with pytest.raises(DstlError, match=r"scene s2: .*other_coarse\.tif: 1 bands uint8, scene s1"):
        check_same_bands({"s1": scene, "s2": [scene[0], other, scene[2]]})
    with pytest.raises(DstlError, match=r"scene s2: 2 raster files, scene s1 has 3"):
        check_same_bands({"s1": scene, "s2": scene[:2]})
