"""Tiled whole-image prediction: equivalence with patch-by-patch, shifts, edge margin, CLI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dstl_hpc.cli import main  # noqa: E402
from dstl_hpc.config.settings import copy_defaults  # noqa: E402
from dstl_hpc.predict.files import to_uint8  # noqa: E402
from dstl_hpc.predict.options import PredictOptions  # noqa: E402
from dstl_hpc.predict.tiled import predict_logits, predict_probabilities  # noqa: E402
from dstl_hpc.predict.tiles import axis_tiles, reflect_indices, shift_offsets  # noqa: E402
from dstl_hpc.prepare.stacks import read_prediction, read_stack, write_stack  # noqa: E402
from dstl_hpc.sources.dstl import CHANNELS  # noqa: E402
from dstl_hpc.train.model import build_model, save_model_file  # noqa: E402

MEAN = [400.0, 450.0, 330.0]
STD = [60.0, 50.0, 25.0]


def tiny_settings(**kw):
    s = copy_defaults()
    s.update(classes=[1, 2], n_channels=3, filters_base=4, top_scale=2, dropout=0.0)
    s.update(patch_inner=64, patch_border=16, tile=64, shift_average=False, edge_margin=0)
    s.update(kw)
    return s


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # tiny convolutions: threads only contend on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = build_model(tiny_settings(), n_in=3, n_classes=2)
    # non-trivial batch-norm statistics, so that eval mode matters
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return net.eval()


def random_image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(MEAN, STD, size=(h, w, 3)).transpose(2, 0, 1)
    return np.clip(img, 0, 2047).astype(np.uint16)


def patchwise(model, image, inner=64, border=16):
    """The reference: mirror-pad, 96 px windows with step 64, sigmoid."""
    x = (image.astype(np.float32) - np.float32(MEAN).reshape(3, 1, 1)) / np.float32(STD).reshape(
        3, 1, 1
    )
    _, h, w = x.shape
    ph, pw = -h % inner, -w % inner
    xp = np.pad(x, ((0, 0), (border, border + ph), (border, border + pw)), mode="reflect")
    out = np.zeros((model.n_classes, h + ph, w + pw), np.float32)
    with torch.no_grad():
        for y in range(0, h + ph, inner):
            for x0 in range(0, w + pw, inner):
                win = torch.from_numpy(
                    xp[None, :, y : y + inner + 2 * border, x0 : x0 + inner + 2 * border].copy()
                )
                out[:, y : y + inner, x0 : x0 + inner] = torch.sigmoid(model(win))[0].numpy()
    return out[:, :h, :w]


def test_reflect_indices_match_numpy_pad():
    for size in (1, 2, 5, 17):
        base = np.arange(size)
        padded = np.pad(base, (40, 40), mode="reflect") if size > 1 else np.zeros(81, int)
        assert np.array_equal(base[reflect_indices(-40, size + 80, size)], padded)


def test_tile_sizes_fit_the_net():
    assert shift_offsets(64, 3) == [0, 21, 42]
    assert shift_offsets(64, 1) == [0]
    for length in (50, 100, 192, 3348, 3392):
        for tile in (64, 100, 512, 1024):
            for div in (16, 32):
                t = axis_tiles(length, tile, 42, 16, div)
                assert (t + 32) % div == 0
                n = -(-(length + 42) // t)
                assert n * t >= length + 42 and t <= max(tile, 64) + div


def test_tile_equals_patch_by_patch(model):
    image = random_image(192, 256)
    opt = PredictOptions(tile=64, shift_steps=1, patch_inner=64, edge_margin=0)
    got = predict_probabilities(model, image, MEAN, STD, opt)
    want = patchwise(model, image)
    assert got.shape == (2, 192, 256) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    # odd sizes: the last tiles reach past the image (mirrored context), cropped
    image = random_image(100, 133, seed=1)
    got = predict_probabilities(model, image, MEAN, STD, opt)
    np.testing.assert_allclose(got, patchwise(model, image), atol=1e-5)


def test_validation_logits_come_from_the_prediction_tiler(model):
    # validation predicts with one tiling of the same tiles: sigmoid of its logits is
    # the prediction without shift averaging (up to the sigmoid's last bit)
    image = random_image(50, 70, seed=7)
    for tile in (32, 64, 1024):
        logits = predict_logits(model, image, MEAN, STD, tile=tile)
        assert logits.shape == (2, 50, 70) and logits.dtype == np.float32
        opt = PredictOptions(tile=tile, shift_steps=1)
        prob = predict_probabilities(model, image, MEAN, STD, opt)
        np.testing.assert_allclose(torch.sigmoid(torch.from_numpy(logits)), prob, atol=1e-7)
    # tiles of the training patch's size are the reference's windows (mirrored edges)
    image = random_image(100, 133, seed=1)
    logits = predict_logits(model, image, MEAN, STD, tile=64)
    np.testing.assert_allclose(
        torch.sigmoid(torch.from_numpy(logits)), patchwise(model, image), atol=1e-5
    )
    with pytest.raises(ValueError, match="fewer than 3 channels"):
        predict_logits(model, image[:2], MEAN, STD)


def test_tiles_are_normalised_with_the_first_channels_of_the_stats():
    from dstl_hpc.predict.tiled import _tile_reader

    img = np.arange(5 * 4 * 6, dtype=np.uint16).reshape(5, 4, 6)
    gather = _tile_reader(
        img, [1.0, 2.0, 3.0], [2.0, 4.0, 0.0], torch.device("cpu"), False, 1, (2, 3)
    )
    tile = gather(0, 0).numpy()  # output rows 0..1, cols 0..2, one pixel of context
    assert tile.shape == (3, 4, 5) and tile.dtype == np.float32
    rows, cols = reflect_indices(-1, 4, 4), reflect_indices(-1, 5, 6)
    want = img[:3][:, rows[:, None], cols[None, :]].astype(np.float32)
    np.testing.assert_allclose(tile[0], (want[0] - 1.0) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(tile[1], (want[1] - 2.0) / 4.0, rtol=1e-6)
    np.testing.assert_array_equal(tile[2], want[2] - 3.0)  # zero std taken as 1


def test_large_tiles_close_to_patches(model):
    image = random_image(150, 170, seed=2)
    big = predict_probabilities(model, image, MEAN, STD, PredictOptions(tile=1024, shift_steps=1))
    small = predict_probabilities(model, image, MEAN, STD, PredictOptions(tile=64, shift_steps=1))
    assert big.shape == small.shape == (2, 150, 170)
    assert 0.0 <= big.min() and big.max() <= 1.0
    # different tilings change only the context; a random net still roughly agrees
    assert np.mean(np.abs(big - small)) < 0.1


def test_shift_average_is_mean_of_shifted_passes(model):
    image = random_image(130, 150, seed=3)
    opt = PredictOptions(tile=96, shift_steps=3, patch_inner=64)
    full = predict_probabilities(model, image, MEAN, STD, opt)
    assert full.shape == (2, 130, 150)
    assert full.min() >= 0.0 and full.max() <= 1.0
    offs = shift_offsets(64, 3)
    passes = [
        predict_probabilities(model, image, MEAN, STD, opt, passes=[(oy, ox)])
        for oy in offs
        for ox in offs
    ]
    np.testing.assert_allclose(full, np.mean(passes, axis=0), atol=1e-5)
    # the shifted passes do differ from each other (the net is not shift-invariant)
    assert np.abs(passes[0] - passes[4]).max() > 1e-6


def test_bf16_on_cpu_only_when_asked(model):
    image = random_image(130, 150, seed=6)
    fp32 = predict_probabilities(model, image, MEAN, STD, PredictOptions(tile=96, bf16=False))
    # the default (bf16=True) is CUDA only: fp32 on the CPU, bit for bit
    default = predict_probabilities(model, image, MEAN, STD, PredictOptions(tile=96))
    np.testing.assert_array_equal(default, fp32)
    opt = PredictOptions(tile=96, bf16=True, bf16_cpu=True)
    bf16 = predict_probabilities(model, image, MEAN, STD, opt)
    assert bf16.shape == fp32.shape and bf16.dtype == np.float32
    diff = np.abs(bf16 - fp32)
    assert 0 < diff.max() < 0.02 and diff.mean() < 0.002


def test_edge_margin(model):
    image = random_image(96, 112, seed=4)
    base = predict_probabilities(model, image, MEAN, STD, PredictOptions(tile=64, shift_steps=1))
    opt = PredictOptions(tile=64, shift_steps=1, edge_margin=5)
    got = predict_probabilities(model, image, MEAN, STD, opt)
    inner = np.zeros((96, 112), bool)
    inner[5:-5, 5:-5] = True
    assert np.all(got[:, ~inner] == 0)
    np.testing.assert_array_equal(got[:, inner], base[:, inner])


def test_predict_cli(model, tmp_path):
    hp = tiny_settings(tile=64, shift_average=True, shift_steps=2)
    meta = {
        "hparams": hp,
        "classes": [1, 2],
        "channels": list(CHANNELS[:3]),
        "mean": MEAN,
        "std": STD,
        "group": "g",
        "variant": "validation",
        "epochs_done": 1,
    }
    model_path = tmp_path / "model.pt"
    save_model_file(model_path, model, meta)
    rng = np.random.default_rng(5)
    h, w = 80, 90
    stack = np.zeros((20, h, w), np.uint16)
    stack[:3] = random_image(h, w, seed=5)
    stack[3:] = rng.integers(0, 2000, (17, h, w), dtype=np.uint16)
    stack_path = tmp_path / "6120_2_2.h5"
    write_stack(stack_path, stack, "6120_2_2", {})
    out = tmp_path / "pred.h5"
    assert main(["predict", str(model_path), str(stack_path), str(out), "--device", "cpu"]) == 0
    prob, classes, image_id = read_prediction(out)
    assert classes == [1, 2] and image_id == "6120_2_2" and prob.shape == (2, h, w)
    # an older model file's hparams (prediction keys recorded): tile 64, 2 shift steps
    want = predict_probabilities(model, stack, MEAN, STD, PredictOptions(tile=64, shift_steps=2))
    assert np.abs(prob - to_uint8(want) / 255.0).max() < 1e-6
    # flags override hparams
    args = ["--no-shift-average", "--edge-margin", "3", "--tile", "40", "--threads", "1"]
    assert main(["predict", str(model_path), str(stack_path), str(out), *args]) == 0
    prob, _, _ = read_prediction(out)
    assert np.all(prob[:, :3] == 0) and np.all(prob[:, :, -3:] == 0)
    want = predict_probabilities(
        model, stack, MEAN, STD, PredictOptions(tile=40, shift_steps=1, edge_margin=3)
    )
    assert np.abs(prob - to_uint8(want) / 255.0).max() < 1e-6


def test_predictor_file_carries_the_prediction_settings(model, tmp_path, capsys):
    from dstl_hpc.predict.settings import PredictSettings
    from dstl_hpc.train.model import load_model_file

    hp = copy_defaults()
    hp.update(classes=[1, 2], n_channels=3, filters_base=4, top_scale=2, dropout=0.0)
    meta = {"hparams": hp, "classes": [1, 2], "channels": list(CHANNELS[:3]), "mean": MEAN,
            "std": STD, "group": "g", "variant": "all", "epochs_done": 1}  # fmt: skip
    trained = tmp_path / "model.pt"
    save_model_file(trained, model, meta)
    before = trained.read_bytes()
    ready = tmp_path / "predictor.pt"
    given = PredictSettings(shift_average=False, edge_margin=3, tile=40)
    assert main(["predictor", str(trained), str(ready), "--settings", given.to_json()]) == 0
    assert trained.read_bytes() == before  # the trained model is never touched
    net, got = load_model_file(ready)
    assert got["hparams"] == hp and got["predict"] == given.to_dict()
    args = ["--no-shift-average", "--edge-margin", "3", "--tile", "40"]
    for a, b in zip(net.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # predict on the predictor file without flags == predict on the model with the flags
    stack = np.zeros((20, 70, 75), np.uint16)
    stack[:3] = random_image(70, 75, seed=9)
    write_stack(tmp_path / "6120_2_2.h5", stack, "6120_2_2", {})
    s = str(tmp_path / "6120_2_2.h5")
    assert main(["predict", str(ready), s, str(tmp_path / "a.h5"), "--threads", "1"]) == 0
    assert main(["predict", str(trained), s, str(tmp_path / "b.h5"), "--threads", "1", *args]) == 0
    assert np.array_equal(
        read_prediction(tmp_path / "a.h5")[0], read_prediction(tmp_path / "b.h5")[0]
    )
    # no --settings: the defaults; a model file that is not one: one line, exit 2
    assert main(["predictor", str(trained), str(tmp_path / "same.pt")]) == 0
    assert load_model_file(tmp_path / "same.pt")[1]["predict"] == PredictSettings().to_dict()
    capsys.readouterr()
    assert main(["predictor", str(trained), str(tmp_path / "x.pt"), "--settings", '{"tiles": 1}'])
    assert "unknown setting 'tiles' (did you mean 'tile'?)" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_text("not a model")
    capsys.readouterr()
    assert main(["predictor", str(tmp_path / "junk.pt"), str(tmp_path / "x.pt")]) == 2
    assert "junk.pt: not a readable model file" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    assert main(["predictor", str(trained), str(trained)]) == 2  # never over its input
    assert trained.read_bytes() == before


# The prediction settings _save's model files were written with (older model files
# recorded them in their hparams): predictors of them predict alike.
PLAIN = '{"shift_average": false, "tile": 64}'


def _save(model, path, hp=None, **meta):
    base = {"hparams": hp or tiny_settings(tile=64, shift_average=False), "classes": [1, 2],
            "channels": list(CHANNELS[:3]), "mean": MEAN, "std": STD, "group": "g",
            "variant": "all", "epochs_done": 1}  # fmt: skip
    save_model_file(path, model, {**base, **meta})
    return path


def _stack(tmp_path, name="6120_2_2", h=70, w=75, seed=9):
    stack = np.zeros((20, h, w), np.uint16)
    stack[:3] = random_image(h, w, seed=seed)
    write_stack(tmp_path / f"{name}.h5", stack, name, {})
    return tmp_path / f"{name}.h5"


@pytest.mark.parametrize("how", ["mean", "median"])
def test_an_ensemble_of_identical_members_equals_one_member(model, tmp_path, how):
    one = _save(model, tmp_path / "one.pt")
    s = str(_stack(tmp_path))
    args = ["--settings", PLAIN.replace("}", f', "ensemble": "{how}"}}')]
    assert main(["predictor", str(one), str(one), str(tmp_path / "two.pt"), *args]) == 0
    for name in ("one", "two"):
        assert main(["predict", str(tmp_path / f"{name}.pt"), s, str(tmp_path / f"{name}.h5")]) == 0
    assert np.array_equal(
        read_prediction(tmp_path / "one.h5")[0], read_prediction(tmp_path / "two.h5")[0]
    )


def test_ensemble_members_are_averaged_and_must_match(model, tmp_path, capsys):
    from dstl_hpc.predict.predictor import load_predictor

    torch.manual_seed(1)
    other = build_model(tiny_settings(), n_in=3, n_classes=2).eval()
    a, b = _save(model, tmp_path / "a.pt"), _save(other, tmp_path / "b.pt")
    for how in ("mean", "median"):
        out = tmp_path / f"ens_{how}.pt"
        args = ["--settings", PLAIN.replace("}", f', "ensemble": "{how}"}}')]
        assert main(["predictor", str(a), str(b), str(out), *args]) == 0
        members, meta = load_predictor(out)
        assert meta["members"] == 2 and meta["predict"]["ensemble"] == how
    image = _stack(tmp_path)
    s = str(image)
    assert main(["predict", str(tmp_path / "ens_mean.pt"), s, str(tmp_path / "e.h5")]) == 0
    opt = PredictOptions(tile=64, shift_steps=1)
    raw = read_stack(image)
    want = (
        predict_probabilities(model, raw, MEAN, STD, opt)
        + predict_probabilities(other, raw, MEAN, STD, opt)
    ) / 2
    assert np.abs(read_prediction(tmp_path / "e.h5")[0] - to_uint8(want) / 255.0).max() < 1e-6
    # members of other classes cannot be combined: one line, exit 2, nothing written
    c = _save(model, tmp_path / "c.pt", classes=[1, 3])
    capsys.readouterr()
    assert main(["predictor", str(a), str(c), str(tmp_path / "bad.pt"), "--settings", PLAIN]) == 2
    assert "c.pt: its classes differ" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()


def test_mosaic_predicts_a_tile_as_part_of_its_scene(model, tmp_path):
    """The centre tile of a 3 x 3 scene predicted with mosaic (its neighbours found in
    --context-dirs, margin patch_inner + border = 80 px = one tile) is the whole scene
    predicted and cut back; the plain (mirrored) prediction differs at the edge next
    to an unlike neighbour; with no neighbour found, mosaic gives the plain one."""
    hp = tiny_settings(tile=64, shift_average=False)
    plain = _save(model, tmp_path / "plain.pt", hp)
    mosaic = tmp_path / "mosaic.pt"
    settings = PLAIN.replace("}", ', "mosaic": true}')
    assert main(["predictor", str(plain), str(mosaic), "--settings", settings]) == 0
    d = tmp_path / "stacks"
    d.mkdir()
    scene = np.zeros((20, 240, 240), np.uint16)
    scene[:3] = random_image(240, 240, seed=4)
    scene[:3, 80:160, 160:] = 2000  # the right-hand neighbour: unlike a mirror of the edge
    for r in range(3):
        for c in range(3):
            tile = scene[:, 80 * r : 80 * (r + 1), 80 * c : 80 * (c + 1)]
            write_stack(d / f"6120_{r}_{c}.h5", np.ascontiguousarray(tile), f"6120_{r}_{c}", {})
    a, run = str(d / "6120_1_1.h5"), ["--threads", "1"]
    assert main(["predict", str(plain), a, str(tmp_path / "p.h5"), *run]) == 0
    assert main(["predict", str(mosaic), a, str(tmp_path / "alone.h5"), *run]) == 0
    args = ["--context-dirs", str(tmp_path), str(d), *run]
    assert main(["predict", str(mosaic), a, str(tmp_path / "m.h5"), *args]) == 0
    p, alone, m = (read_prediction(tmp_path / f"{n}.h5")[0] for n in ("p", "alone", "m"))
    opt = PredictOptions(tile=64, shift_steps=1)
    whole = to_uint8(predict_probabilities(model, scene, MEAN, STD, opt))[:, 80:160, 80:160]
    assert np.array_equal(np.rint(m * 255).astype(np.uint8), whole)
    assert np.abs(p - m)[:, :, -4:].max() >= 2 / 255  # the mirror was not the scene
    assert np.abs(alone - p).max() <= 1 / 255 + 1e-6  # no neighbour: a mirror either way
