import pytest
import torch

from dstl_hpc.config.settings import merge_settings
from dstl_hpc.errors import DstlError
from dstl_hpc.train.model import (
    UNet,
    build_model,
    count_parameters,
    load_model_file,
    save_model_file,
)

torch.set_num_threads(1)

# 12 channels in, filters_base 32, 2 classes (the reference's "about 7.9M").
REFERENCE_PARAMS = 7_852_226


def test_reference_size_and_output_shape():
    s = merge_settings({"classes": [1, 2]})
    model = build_model(s, n_in=12, n_classes=2)
    n = count_parameters(model)
    assert n == REFERENCE_PARAMS
    assert 7.8e6 < n < 7.9e6
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 12, 96, 96))
    assert out.shape == (1, 2, 64, 64)


@pytest.mark.parametrize("top_scale", [2, 4])
def test_border_crop_and_top_scale(top_scale):
    model = UNet(4, 3, filters_base=4, top_scale=top_scale, border=16).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 4, 96, 64)).shape == (2, 3, 64, 32)
        assert UNet(4, 1, 4, top_scale, border=0).eval()(torch.zeros(1, 4, 64, 64)).shape == (
            1,
            1,
            64,
            64,
        )


@pytest.mark.parametrize(
    "top_scale, shape, bad",
    [(2, (88, 96), "height 88"), (2, (96, 100), "width 100"), (4, (80, 96), "height 80")],
)
def test_input_side_must_fit_the_poolings(top_scale, shape, bad):
    model = UNet(3, 1, filters_base=4, top_scale=top_scale, border=16)
    with pytest.raises(ValueError, match=bad):
        model(torch.zeros(1, 3, *shape))


def test_dropout_layers_only_when_asked():
    assert not any(isinstance(m, torch.nn.Dropout2d) for m in UNet(3, 1, 4).modules())
    drops = [m for m in UNet(3, 1, 4, dropout=0.1).modules() if isinstance(m, torch.nn.Dropout2d)]
    assert len(drops) == 9 and drops[0].p == 0.1


def _meta(settings, n):
    return {
        "hparams": settings,
        "classes": settings["classes"],
        "channels": ["R", "G", "B", "P"][:n],
        "mean": [100.0 + i for i in range(n)],
        "std": [10.0 + i for i in range(n)],
        "group": "g",
        "variant": "validation",
        "epochs_done": 3,
    }


def test_model_file_round_trip(tmp_path):
    s = merge_settings({"classes": [3, 4], "filters_base": 4, "dropout": 0.1})
    torch.manual_seed(0)
    model = build_model(s, 4, 2)
    model.train()(torch.randn(4, 4, 96, 96))  # move BN running stats off their init
    path = tmp_path / "sub" / "model.pt"
    save_model_file(path, model, _meta(s, 4))
    assert path.exists() and not list(path.parent.glob(".*"))  # no temporary left behind
    loaded, meta = load_model_file(path, "cpu")
    assert not loaded.training
    assert meta["classes"] == [3, 4] and meta["epochs_done"] == 3 and meta["format"] == 1
    assert meta["hparams"] == s and "state_dict" not in meta
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
    raw = torch.load(path, weights_only=True)
    assert all(t.device.type == "cpu" for t in raw["state_dict"].values())


def test_model_file_errors(tmp_path):
    with pytest.raises(DstlError, match="nope.pt: file not found"):
        load_model_file(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(DstlError, match="not a dstl-hpc model file"):
        load_model_file(bad)
    s = merge_settings({"classes": [1]})
    with pytest.raises(ValueError, match="epochs_done"):
        meta = _meta(s, 3)
        del meta["epochs_done"]
        save_model_file(tmp_path / "m.pt", UNet(3, 1, 4), meta)
