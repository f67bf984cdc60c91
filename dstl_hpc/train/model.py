"""The UNet of the reference solution and its model file.

Architecture (``reference-solution.md``, "Model"): five levels with
``filters_base * [1, 2, 4, 8, 16]`` filters; a block is (3x3 conv, BN, ReLU) twice;
the first pooling is ``top_scale`` x ``top_scale`` max-pooling (2 or 4), the other
three 2x2; the way up is nearest upsampling, concatenation with the skip and a
block (its output has the skip's width); optional Dropout2d after every block; a
1x1 conv to the group's classes. The net maps an input of side S to logits of
side S, and ``forward`` crops ``border`` pixels on each side: S - 2 * border.
With the defaults (patch_inner 64, patch_border 16) an input of 96 gives 64.

``forward`` returns LOGITS (the reference returned sigmoid probabilities): the
loss uses BCE-with-logits, and predictors apply ``torch.sigmoid``.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dstl_hpc.atomic import write_bytes
from dstl_hpc.config.settings import input_divisor
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

MODEL_FORMAT = 1
META_KEYS = ("hparams", "classes", "channels", "mean", "std", "group", "variant", "epochs_done")


def _block(n_in: int, n_out: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (n_in, n_out):
        layers += [
            nn.Conv2d(c_in, n_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(n_out),
            nn.ReLU(inplace=True),
        ]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(
        self,
        n_in: int,
        n_classes: int,
        filters_base: int = 32,
        top_scale: int = 2,
        dropout: float = 0.0,
        border: int = 16,
    ):
        super().__init__()
        if top_scale not in (2, 4):
            raise ValueError(f"top_scale must be 2 or 4, got {top_scale}")
        self.n_in, self.n_classes = int(n_in), int(n_classes)
        self.top_scale, self.border = int(top_scale), int(border)
        self.divisor = input_divisor(top_scale)
        filters = [filters_base * m for m in (1, 2, 4, 8, 16)]
        self.scales = [top_scale, 2, 2, 2]  # pooling between level i and i + 1
        self.down = nn.ModuleList(
            _block(n_in if i == 0 else filters[i - 1], nf, dropout) for i, nf in enumerate(filters)
        )
        # up[i] merges level i + 1 (upsampled) with the skip of level i.
        self.up = nn.ModuleList(
            _block(filters[i + 1] + filters[i], filters[i], dropout) for i in range(4)
        )
        self.head = nn.Conv2d(filters[0], n_classes, 1)

    def check_input(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        for name, side in (("height", h), ("width", w)):
            if side % self.divisor:
                raise ValueError(
                    f"input {name} {side} is not divisible by {self.divisor} "
                    f"(top_scale {self.top_scale})"
                )
        if min(h, w) <= 2 * self.border:
            raise ValueError(f"input side {min(h, w)} leaves nothing after cropping {self.border}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, self.scales[i - 1])
            x = block(x)
            skips.append(x)
        for i in reversed(range(4)):
            x = F.interpolate(x, scale_factor=self.scales[i], mode="nearest")
            x = self.up[i](torch.cat([x, skips[i]], 1))
        x = self.head(x)
        b = self.border
        return x[:, :, b : x.shape[-2] - b, b : x.shape[-1] - b] if b else x


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(settings: dict, n_in: int, n_classes: int) -> UNet:
    return UNet(
        n_in=n_in,
        n_classes=n_classes,
        filters_base=settings["filters_base"],
        top_scale=settings["top_scale"],
        dropout=settings["dropout"],
        border=settings["patch_border"],
    )


# ----------------------------------------------------------------- model file


def save_model_file(path, model: nn.Module, meta: dict) -> None:
    """torch.save of ``{"state_dict", **meta, "format": 1}`` (CPU tensors), atomically."""
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"model meta lacks {', '.join(missing)}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    obj = {"state_dict": state, **{k: meta[k] for k in meta}, "format": MODEL_FORMAT}
    save_atomic(path, obj)


def non_finite(obj, key: str = "") -> str | None:
    """The key (``state_dict.head.weight``) of the first floating tensor in ``obj``
    (nested dicts and lists) holding NaN or infinity; None when every one is finite."""
    if isinstance(obj, torch.Tensor):
        finite = not obj.is_floating_point() or bool(torch.isfinite(obj).all())
        return None if finite else key
    if isinstance(obj, dict | list | tuple):
        for k, v in obj.items() if isinstance(obj, dict) else enumerate(obj):
            found = non_finite(v, f"{key}.{k}" if key else str(k))
            if found is not None:
                return found
    return None


def save_atomic(path, obj) -> None:
    """torch.save into memory, then an atomic write: a full disk is a clean DstlError
    naming ``path`` (torch.save straight to a file fails with an opaque RuntimeError).
    Weights (or optimizer states) holding NaN or infinity are refused: nothing written."""
    if (bad := non_finite(obj)) is not None:
        raise DstlError(f"{path}: not written: {bad} holds NaN or infinity (the training diverged)")
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer())


def read_model_obj(path) -> dict:
    """The dict a model file holds, checked to be one of ours."""
    path = Path(path)
    check_regular(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DstlError(
            f"{path}: not a readable model file ({type(exc).__name__}: {exc})"
        ) from None
    weights = "state_dict" in obj or "index" in obj if isinstance(obj, dict) else False
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT or not weights:
        raise DstlError(f"{path}: not a dstl-hpc model file (format {MODEL_FORMAT})")
    weights = {k: obj[k] for k in ("state_dict", "best_states", "members") if k in obj}
    if (bad := non_finite(weights)) is not None:
        raise DstlError(f"{path}: {bad} holds NaN or infinity (a diverged training)")
    return obj


def load_model_file(path, device="cpu") -> tuple[UNet, dict]:
    """(model on ``device`` in eval mode, meta dict without the state_dict)."""
    obj = read_model_obj(path)
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "members")}
    hp = meta["hparams"]
    model = build_model(hp, n_in=len(meta["mean"]), n_classes=len(meta["classes"]))
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval(), meta
