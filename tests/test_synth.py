import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dstl_hpc.cli import main
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.raster import rasterize
from dstl_hpc.sources import dstl as dataset
from dstl_hpc.sources import synthetic as synth
from dstl_hpc.sources.dstl import CLASS_TYPES, Layout

N_IMAGES, N_TRAIN, SIZE, SEED = 5, 3, (192, 192), 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    truth = synth.generate(root, N_IMAGES, N_TRAIN, SIZE, SEED)
    return root, truth


def _all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _label_masks(layout: Layout, image_id: str) -> dict[int, np.ndarray]:
    h, w = dataset.image_size(layout, image_id)
    xmax, ymin = dataset.grid_of(layout, image_id)
    polys = dataset.image_polygons(layout.train_wkt, image_id)
    return {
        k: rasterize(dataset.grid_to_pixels(g, w, h, xmax, ymin), (h, w)).astype(bool)
        for k, g in polys.items()
    }


# ------------------------------------------------------------------ layout


def test_layout_dtypes_and_shapes(data):
    root, truth = data
    layout = Layout(root)
    train, test = dataset.synthetic_ids(N_IMAGES, N_TRAIN)
    assert truth["train_ids"] == train and truth["test_ids"] == test
    widths = set()
    for image_id in train + test:
        rgb = dataset.read_rgb(layout, image_id)
        p = dataset.read_band(layout, image_id, "P")
        m = dataset.read_band(layout, image_id, "M")
        a = dataset.read_band(layout, image_id, "A")
        assert rgb.dtype == p.dtype == m.dtype == a.dtype == np.uint16
        _, h, w = rgb.shape
        assert h >= SIZE[0] and w >= SIZE[1] and h <= SIZE[0] + 2 and w <= SIZE[1] + 3
        widths.add(w)
        assert p.shape == (h, w)
        assert m.shape == (8, *synth.band_shape(h, w, "M"))
        assert a.shape == (8, *synth.band_shape(h, w, "A"))
        assert abs(m.shape[1] - h / 4) <= 0.5 and abs(m.shape[2] - w / 4) <= 0.5
        assert abs(a.shape[1] - h / 25) <= 0.5 and abs(a.shape[2] - w / 25) <= 0.5
        assert truth["shapes"][image_id] == {
            "RGB": [h, w],
            "P": [h, w],
            "M": list(m.shape[1:]),
            "A": list(a.shape[1:]),
        }
        # Value ranges: 11-bit RGB, P, M; 14-bit A, nothing saturated or empty.
        for arr, top in ((rgb, 2047), (p, 2047), (m, 2047), (a, 16383)):
            assert 0 < arr.min() and arr.max() < top
    assert len(widths) > 1  # sizes differ between images
    assert list(dataset.read_grid_sizes(layout.grid_sizes)) == train + test
    for xmax, ymin in dataset.read_grid_sizes(layout.grid_sizes).values():
        assert 0.0089 < xmax < 0.0093 and -0.0092 < ymin < -0.0088
    assert layout.grid_sizes.read_text().splitlines()[0] == ",Xmax,Ymin"


def test_real_band_sizes():
    assert synth.band_shape(3348, 3392, "M") == (837, 848)
    assert synth.band_shape(3348, 3392, "A") == (134, 136)
    assert synth.band_shape(3348, 3392, "P") == (3348, 3392)


def test_value_statistics_look_like_the_real_data(data):
    root, truth = data
    layout = Layout(root)
    ids = truth["train_ids"] + truth["test_ids"]
    rgb = np.concatenate([dataset.read_rgb(layout, i).reshape(3, -1) for i in ids], 1)
    a = np.concatenate([dataset.read_band(layout, i, "A").reshape(8, -1) for i in ids], 1)
    np.testing.assert_allclose(rgb.mean(1), synth.REAL_MEAN["RGB"], rtol=0.15)
    np.testing.assert_allclose(a.mean(1), synth.REAL_MEAN["A"], rtol=0.15)


def test_sample_submission_lists_the_test_ids(data):
    root, _ = data
    layout = Layout(root)
    _, test = dataset.synthetic_ids(N_IMAGES, N_TRAIN)
    assert dataset.test_ids(layout) == test
    rows = dataset.read_wkt_csv(layout.sample_submission)
    assert set(rows) == set(test)
    for image_id in test:
        assert rows[image_id] == dict.fromkeys(CLASS_TYPES, "MULTIPOLYGON EMPTY")


def test_truth_file(data):
    root, truth = data
    on_disk = json.loads((root / "synth_truth.json").read_text())
    assert on_disk == json.loads(json.dumps(truth))
    assert on_disk["seed"] == SEED and on_disk["size"] == list(SIZE)
    for image_id in truth["train_ids"] + truth["test_ids"]:
        offsets = on_disk["offsets"][image_id]
        assert set(offsets) == {"P", "M", "A"}
        for band, limit in synth.OFFSET_LIMITS.items():
            assert abs(offsets[band]["dx"]) <= limit and abs(offsets[band]["dy"]) <= limit
    assert not list(root.parent.glob(".data.*"))  # no temporary directories left


# ------------------------------------------------------------------ labels


def test_wkt_parses_and_every_class_is_in_two_training_images(data):
    root, truth = data
    rows = dataset.read_wkt_csv(Layout(root).train_wkt)
    assert list(rows) == truth["train_ids"]
    images_with = dict.fromkeys(CLASS_TYPES, 0)
    for image_id, classes in rows.items():
        assert sorted(classes) == list(CLASS_TYPES)
        for k, wkt in classes.items():
            geom = dataset.parse_wkt(wkt, image_id)
            if not geom.is_empty:
                images_with[k] += 1
                assert geom.is_valid
                xmin, ymin, xmax, ymax = geom.bounds
                assert 0 <= xmin and xmax <= 0.0093 and -0.0093 <= ymin and ymax <= 0
            else:
                assert wkt == "MULTIPOLYGON EMPTY"
    assert all(n >= 2 for n in images_with.values()), images_with


def test_rasterised_labels_have_plausible_areas_and_match_the_truth(data):
    root, truth = data
    layout = Layout(root)
    for image_id in truth["train_ids"]:
        masks = _label_masks(layout, image_id)
        frac = {k: float(m.mean()) for k, m in masks.items()}
        # The imagery was painted from exactly these masks.
        expected = truth["class_fractions"][image_id]
        for k in CLASS_TYPES:
            assert frac[k] == pytest.approx(expected[str(k)], abs=2e-6)
        assert frac[5] < 0.4 and frac[6] < 0.95 and frac[4] < 0.1 and frac[1] < 0.25
        assert frac[9] < 0.005 and frac[10] < 0.01 and frac[2] < 0.05
        # Exclusive classes do not overlap; large vehicles stand on roads.
        exclusive = sum(masks[k].astype(np.int32) for k in synth.PRIORITY)
        assert exclusive.max() <= 1
        if masks[9].any():
            assert (masks[9] & masks[3]).sum() >= 0.9 * masks[9].sum()
    all_trees = np.mean([truth["class_fractions"][i]["5"] for i in truth["train_ids"]])
    assert all_trees > 0.02


def test_polygons_lie_within_the_grid_and_are_what_was_drawn(data):
    """As in the real data, 0 <= x <= Xmax and Ymin <= y <= 0 (x once reached
    Xmax * (W + 1) / W), for training and test truth alike; the written truth still
    rasterises to the class areas the imagery was painted with."""
    root, truth = data
    layout = Layout(root)
    grid = dataset.read_grid_sizes(layout.grid_sizes)
    reach_x = reach_y = 0
    for path, ids in (
        (layout.train_wkt, truth["train_ids"]),
        (root / synth.TEST_WKT_FILE, truth["test_ids"]),
    ):
        rows = dataset.read_wkt_csv(path)
        assert list(rows) == ids
        for image_id in ids:
            xmax, ymin = grid[image_id]
            h, w = truth["shapes"][image_id]["RGB"]
            for k, wkt in rows[image_id].items():
                geom = dataset.parse_wkt(wkt, image_id)
                drawn = truth["class_fractions"][image_id][str(k)]
                if geom.is_empty:
                    assert drawn == 0.0
                    continue
                x0, y0, x1, y1 = geom.bounds
                assert 0 <= x0 and x1 <= xmax and ymin <= y0 and y1 <= 0, (image_id, k)
                reach_x += x1 == xmax
                reach_y += y0 == ymin
                mask = rasterize(dataset.grid_to_pixels(geom, w, h, xmax, ymin), (h, w))
                assert mask.mean() == pytest.approx(drawn, abs=2e-6), (image_id, k)
                # The last column and row (centres past W' = W * W / (W + 1)) stay unlabelled.
                assert not mask[:, -1].any() and not mask[-1].any()
    assert reach_x and reach_y  # fields, rivers and roads run on to the grid's edges


def test_classes_have_their_own_spectra(data):
    root, truth = data
    layout = Layout(root)
    water, trees = [], []
    for image_id in truth["train_ids"]:
        masks = _label_masks(layout, image_id)
        m = dataset.read_band(layout, image_id, "M").astype(np.float32)
        off = truth["offsets"][image_id]["M"]

        def sample(mask, channel, m=m, off=off):
            # The band pixel that holds each RGB pixel's centre, using the true offset.
            (h, w), (mh, mw) = mask.shape, m.shape[1:]
            ys, xs = np.nonzero(mask)
            u = np.clip(((xs + 0.5) * mw / w + off["dx"]).astype(int), 0, mw - 1)
            v = np.clip(((ys + 0.5) * mh / h + off["dy"]).astype(int), 0, mh - 1)
            return m[channel][v, u].mean()

        inner = {k: cv2.erode(masks[k].astype(np.uint8), np.ones((9, 9))) > 0 for k in (5, 7, 8)}
        if inner[5].sum() > 20:
            trees.append((sample(inner[5], 6), sample(inner[5], 4)))
        for k in (7, 8):
            if inner[k].sum() > 20:
                water.append(sample(inner[k], 6))
    assert trees and water
    assert max(water) < min(n for n, _ in trees)  # water is dark in the NIR
    assert all(n > r for n, r in trees)  # vegetation is brighter in NIR than in red


# ------------------------------------------------------------ displacement


@pytest.mark.parametrize("band", ["P", "M", "A"])
def test_displacement_convention_with_a_blob(band):
    rng = np.random.default_rng(7)
    big_h, big_w = 610, 590  # non-integer ratios for A (24 x 24 px)
    h, w = synth.band_shape(big_h, big_w, band)
    scale_x, scale_y = big_w / w, big_h / h
    for _ in range(3):
        x0, y0 = rng.uniform(250, 340), rng.uniform(260, 350)
        dx, dy = (rng.uniform(-1, 1, 2) * synth.OFFSET_LIMITS[band]).tolist()
        sigma = 1.5 * scale_x  # 1.5 band pixels
        yy, xx = np.mgrid[0:big_h, 0:big_w]
        # A Gaussian centred on continuous point (x0, y0): pixel c's centre is c + 0.5.
        plane = np.exp(-((xx + 0.5 - x0) ** 2 + (yy + 0.5 - y0) ** 2) / (2 * sigma**2))
        out = synth.displace(plane.astype(np.float32), dx, dy, (h, w)).astype(np.float64)
        assert out.shape == (h, w)
        vv, uu = np.mgrid[0:h, 0:w]
        cx = ((uu + 0.5) * out).sum() / out.sum()
        cy = ((vv + 0.5) * out).sum() / out.sum()
        assert cx == pytest.approx(x0 / scale_x + dx, abs=0.05)
        assert cy == pytest.approx(y0 / scale_y + dy, abs=0.05)


def test_drawn_offsets_are_exact_on_the_warp_grid():
    rng = np.random.default_rng(0)
    for band in ("P", "M", "A"):
        for big, small in ((3392, synth.band_shape(3348, 3392, band)[1]), (193, 48)):
            d = synth.draw_offset(rng, band, big, small)
            assert abs(d) <= synth.OFFSET_LIMITS[band]
            shift = d * big / small * 32
            assert shift == pytest.approx(round(shift), abs=1e-6)


def test_the_m_band_is_displaced_as_the_truth_says(data):
    """ECC (the alignment the pipeline uses) recovers the recorded M offsets."""
    root, truth = data
    layout = Layout(root)

    def norm(a):
        lo, hi = np.percentile(a, [1, 99])
        return np.clip((a - lo) / (hi - lo), 0, 1).astype(np.float32)

    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 500, 1e-6)
    for image_id in truth["train_ids"]:
        grey = dataset.read_rgb(layout, image_id).astype(np.float32).mean(0)
        m = dataset.read_band(layout, image_id, "M").astype(np.float32)
        m_grey = m[[1, 2, 4]].mean(0)  # blue, green, red
        ref = cv2.resize(grey, m_grey.shape[::-1], interpolation=cv2.INTER_AREA)
        warp = np.eye(2, 3, dtype=np.float32)
        _, warp = cv2.findTransformECC(
            norm(ref), norm(m_grey), warp, cv2.MOTION_TRANSLATION, criteria, None, 5
        )
        offsets = truth["offsets"][image_id]["M"]
        assert warp[0, 2] == pytest.approx(offsets["dx"], abs=0.1)
        assert warp[1, 2] == pytest.approx(offsets["dy"], abs=0.1)


# ------------------------------------------------------------ determinism


def test_same_seed_same_bytes_other_seed_differs(data, tmp_path):
    root, _ = data
    again = tmp_path / "again"
    synth.generate(again, N_IMAGES, N_TRAIN, SIZE, SEED)
    assert _all_files(again) == _all_files(root)
    other = tmp_path / "other"
    synth.generate(other, N_IMAGES, N_TRAIN, SIZE, SEED + 1)
    first = "three_band/6010_0_0.tif"
    assert (other / first).read_bytes() != (root / first).read_bytes()
    assert (other / "train_wkt_v4.csv").read_bytes() != (root / "train_wkt_v4.csv").read_bytes()


def test_presence_plan_puts_every_class_in_training_and_validation_ids():
    for seed in range(5):
        plans = synth.presence_plan(12, 8, seed)
        # The workflow validates on the last two training ids of a synthetic dataset.
        for group in (plans[:6], plans[6:8]):
            assert set().union(*group) == set(CLASS_TYPES)
        for p in plans:
            assert not ({9, 10} & p) or 3 in p  # vehicles need roads
    plans = synth.presence_plan(3, 2, 0)
    assert plans[0] == plans[1] == set(CLASS_TYPES)


# --------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_images": 4, "n_train": 4}, "train images"),
        ({"n_images": 4, "n_train": 0}, "train images"),
        ({"n_images": 1, "n_train": 1}, "at least 2 images"),
        ({"size": (63, 200)}, "too small"),
        ({"size": (200, 30000)}, "too large"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, message):
    args = {"n_images": 3, "n_train": 2, "size": (64, 64), "seed": 0} | kwargs
    with pytest.raises(DstlError, match=message):
        synth.generate(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_out_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DstlError, match="not a directory"):
        synth.generate(target, 2, 1, (64, 64), 0)


def test_replaces_an_existing_directory_only_on_success(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(DstlError, match="not a synthetic dataset"):
        synth.generate(out, 2, 1, (64, 64), 0)
    (out / "synth_truth.json").write_text("{}")  # an earlier synthetic dataset

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    with monkeypatch.context() as mp:
        mp.setattr(synth.write, "make_image", boom)
        with pytest.raises(RuntimeError):
            synth.generate(out, 2, 1, (64, 64), 0)
    assert (out / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    synth.generate(out, 2, 1, (64, 64), 0)
    assert not (out / "old.txt").exists() and (out / "synth_truth.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replaces_what_snakemake_leaves_of_declared_outputs(tmp_path):
    out = tmp_path / "data"
    (out / "three_band").mkdir(parents=True)
    (out / "sixteen_band").mkdir()
    (out / "synth_test_wkt.csv").write_text("undeclared output of an earlier run")
    synth.generate(out, 2, 1, (64, 64), 0)
    assert (out / "synth_truth.json").exists()


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", str(out), "--images", "2", "--train", "1", "--size", "64", "80"]) == 0
    assert json.loads((out / "synth_truth.json").read_text())["size"] == [64, 80]
    assert main(["synth", str(tmp_path / "bad"), "--images", "2", "--train", "2"]) == 2
    err = capsys.readouterr().err
    assert "dstl-hpc synth: error:" in err and "train images" in err


def test_no_torch_import():
    code = (
        "import sys, dstl_hpc.sources.synthetic, dstl_hpc.commands.synth; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


# ------------------------------------------------------------------ mosaic


def test_mosaic_tiles_continue_into_their_neighbours(tmp_path):
    """With --mosaic the tiles of a scene are cut from one landscape: what is drawn at
    a tile's right (bottom) edge goes on at its neighbour's left (top) edge; without
    it, neighbours are unrelated. Labels are compared next to the seam (the grid's last
    column and row are never labelled)."""

    def seam_agreement(root):
        layout = Layout(root)
        ids = set(dataset.read_ids(layout.train_wkt))
        scores = []
        for r in range(2):
            for c in range(4):
                a, right, below = f"6010_{r}_{c}", f"6010_{r}_{c + 1}", f"6010_{r + 1}_{c}"
                ma = _label_masks(layout, a)
                for b, cut in ((right, 1), (below, 0)):
                    if b not in ids:
                        continue
                    mb = _label_masks(layout, b)
                    for k in (1, 3, 5, 6):
                        end = np.take(ma[k], -2, axis=cut)
                        start = np.take(mb[k], 0, axis=cut)
                        end, start = end[: len(start)], start[: len(end)]  # sizes may differ
                        if end.any() or start.any():
                            scores.append((end & start).sum() / (end | start).sum())
        return float(np.mean(scores)), len(scores)

    mosaic = synth.generate(tmp_path / "m", 12, 10, (96, 96), 4, mosaic=True)
    assert mosaic["mosaic"] is True
    assert all(s == [96, 96] for s in (v["RGB"] for v in mosaic["shapes"].values()))
    tiled, n = seam_agreement(tmp_path / "m")
    assert n >= 10 and tiled > 0.6, (tiled, n)
    synth.generate(tmp_path / "s", 12, 10, (96, 96), 4)
    single, _ = seam_agreement(tmp_path / "s")
    assert single < tiled - 0.3, (single, tiled)
