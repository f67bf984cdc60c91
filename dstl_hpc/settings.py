"""Group settings of ``dstl-hpc train`` (and of ``predict``): defaults and validation.

A group's settings are one flat dict (``docs/contracts.md``, "Config"). The
workflow merges ``defaults`` with ``groups.<name>`` and passes the result as a JSON
object to ``dstl-hpc train --settings``; ``merge_settings`` does that merge and
``validate_settings`` checks every value, both with errors naming the key.

This module is imported by the Snakefile: it must stay cheap (no torch, no numpy).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from dstl_hpc.errors import DstlError

# key -> (default, help). ``classes`` has no default: every group must name its classes.
SETTINGS: dict[str, tuple[Any, str]] = {
    "classes": (None, "ClassTypes (1..10) predicted by the group's model"),
    "n_channels": (12, "input channels: the first N of R,G,B,P,M1..M8,A1..A8 (3, 4, 12 or 20)"),
    "filters_base": (32, "UNet filters at the top level; levels use x1,2,4,8,16"),
    "top_scale": (2, "first max-pooling factor, 2 or 4 (4: faster, for small objects)"),
    "dropout": (0.0, "Dropout2d probability after each UNet block (0 = off)"),
    "patch_inner": (64, "side of a training patch's target (output) in pixels"),
    "patch_border": (16, "context pixels on each side of the target (input = inner + 2 border)"),
    "batch_size": (128, "patches per batch"),
    "lr": (1e-4, "Adam learning rate"),
    "lr_decay_epochs": ([25, 50], "epochs after which the learning rate is divided"),
    "lr_decay_factor": (5.0, "divisor of the learning rate at each lr_decay_epochs entry"),
    "epochs": (70, "training epochs"),
    "epoch_fraction": (0.5, "patches per epoch cover this fraction of the training area"),
    "patches_per_epoch": (
        None,
        "patches per epoch whatever the number of images (the seed's code: about 70.9k); "
        "null: epoch_fraction of the training area",
    ),
    "log_loss": (1.0, "weight of the binary cross-entropy term of the loss"),
    "dice_loss": (10.0, "weight of the dice term of the loss"),
    "rotate_deg": (180.0, "patches are rotated by a uniform angle in +-rotate_deg degrees"),
    "flips": (True, "random horizontal and vertical flips of patches"),
    "jitter": (0.0, "std of a per-channel multiplicative factor around 1 (0 = off)"),
    "oversample": (0.0, "probability that a patch is redrawn until it holds a positive pixel"),
    "augment_on": (
        "auto",
        "where patches are rotated, flipped and jittered: cpu (cv2 in the DataLoader, one warp "
        "per patch), device (whole batches on the training device with affine_grid + "
        "grid_sample; the DataLoader only crops), auto (device on CUDA, else cpu)",
    ),
    "in_memory": (
        "auto",
        "keep stacks and masks in RAM: auto (if < 25% of the memory budget: the tightest of "
        "MemAvailable, the cgroup hierarchy and SLURM's allocation), true, false",
    ),
    "bf16": (True, "bfloat16 autocast on CUDA"),
    "channels_last": (True, "channels-last memory format on CUDA"),
    "cudnn_benchmark": (True, "cudnn.benchmark on CUDA"),
    "num_workers": (0, "DataLoader worker processes, or auto (0 on CPU, up to 8 on CUDA)"),
    "seed": (0, "random seed of initialisation and sampling"),
    "valid_tile": (512, "output side of the tiles that validation images are predicted in"),
    # prediction (read by ``predict``; accepted and ignored by ``train``)
    "tile": (1024, "predict: output side of a prediction tile"),
    "shift_average": (True, "predict: average predictions over shifted tilings"),
    "shift_steps": (3, "predict: shifts per axis when shift_average (step = inner / steps)"),
    "edge_margin": (0, "predict: pixels within this distance of the image edge are left empty"),
}

TRAIN_DEFAULTS: dict[str, Any] = {k: v for k, (v, _) in SETTINGS.items()}
SETTINGS_HELP: dict[str, str] = {k: h for k, (_, h) in SETTINGS.items()}
PREDICT_KEYS = ("tile", "shift_average", "shift_steps", "edge_margin")
AUGMENT_ON = ("auto", "cpu", "device")
REQUIRED = ("classes",)


def copy_defaults() -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in TRAIN_DEFAULTS.items()}


def check_keys(settings: Mapping[str, Any], where: str = "settings") -> None:
    """DstlError naming every unknown key (with the closest known name)."""
    if not isinstance(settings, Mapping):
        raise DstlError(f"{where}: expected a mapping of settings, got {type(settings).__name__}")
    unknown = [k for k in settings if k not in TRAIN_DEFAULTS]
    if unknown:
        parts = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), list(TRAIN_DEFAULTS), n=1)
            parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise DstlError(
            f"{where}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; "
            f"known: {', '.join(TRAIN_DEFAULTS)}"
        )


def merge_settings(*layers: Mapping[str, Any] | None, where: str = "settings") -> dict[str, Any]:
    """TRAIN_DEFAULTS updated by each layer in turn (None layers skipped), validated."""
    out = copy_defaults()
    for layer in layers:
        if layer is None:
            continue
        check_keys(layer, where)
        out.update({k: list(v) if isinstance(v, list | tuple) else v for k, v in layer.items()})
    return validate_settings(out, where)


# ------------------------------------------------------------------ validation


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _int(s, k, where, lo=None, hi=None, choices=None):
    v = s[k]
    if isinstance(v, float) and v.is_integer():
        v = s[k] = int(v)
    if not _is_int(v):
        raise DstlError(f"{where}: {k} must be an integer, got {v!r}")
    if choices is not None and v not in choices:
        raise DstlError(f"{where}: {k} must be one of {list(choices)}, got {v}")
    if lo is not None and v < lo:
        raise DstlError(f"{where}: {k} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise DstlError(f"{where}: {k} must be <= {hi}, got {v}")


def _num(s, k, where, lo=None, hi=None, lo_open=False, hi_open=False):
    v = s[k]
    if not _is_num(v):
        raise DstlError(f"{where}: {k} must be a finite number, got {v!r}")
    s[k] = v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise DstlError(f"{where}: {k} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise DstlError(f"{where}: {k} must be {'<' if hi_open else '<='} {hi}, got {v}")


def _bool(s, k, where):
    if not isinstance(s[k], bool):
        raise DstlError(f"{where}: {k} must be true or false, got {s[k]!r}")


def input_divisor(top_scale: int) -> int:
    """The UNet input side must be a multiple of this (four poolings)."""
    return int(top_scale) * 8


def validate_settings(settings: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """Check a complete settings dict; returns a normalised copy (floats as float...)."""
    check_keys(settings, where)
    missing = [k for k in TRAIN_DEFAULTS if k not in settings]
    if missing:
        raise DstlError(f"{where}: missing setting(s) {', '.join(missing)}")
    s = dict(settings)

    classes = s["classes"]
    if classes is None:
        raise DstlError(f"{where}: classes is required (a list of ClassTypes 1..10)")
    if _is_int(classes):
        classes = [classes]
    if not isinstance(classes, list | tuple) or not classes:
        raise DstlError(f"{where}: classes must be a non-empty list of ClassTypes, got {classes!r}")
    if not all(_is_int(c) and 1 <= c <= 10 for c in classes):
        raise DstlError(f"{where}: classes must be ClassTypes in 1..10, got {list(classes)}")
    if len(set(classes)) != len(classes):
        raise DstlError(f"{where}: classes has duplicates: {list(classes)}")
    s["classes"] = [int(c) for c in classes]

    _int(s, "n_channels", where, 1, 20)
    _int(s, "filters_base", where, 1)
    _int(s, "top_scale", where, choices=(2, 4))
    _num(s, "dropout", where, 0.0, 1.0, hi_open=True)
    _int(s, "patch_inner", where, 1)
    _int(s, "patch_border", where, 0)
    div = input_divisor(s["top_scale"])
    side = s["patch_inner"] + 2 * s["patch_border"]
    if side % div:
        raise DstlError(
            f"{where}: patch_inner + 2 * patch_border = {side} must be divisible by {div} "
            f"(top_scale {s['top_scale']})"
        )
    _int(s, "batch_size", where, 1)
    _num(s, "lr", where, 0.0, lo_open=True)
    decay = s["lr_decay_epochs"]
    if _is_int(decay):
        decay = [decay]
    if not isinstance(decay, list | tuple) or not all(_is_int(e) and e >= 1 for e in decay):
        raise DstlError(f"{where}: lr_decay_epochs must be a list of epochs >= 1, got {decay!r}")
    s["lr_decay_epochs"] = sorted(int(e) for e in decay)
    _num(s, "lr_decay_factor", where, 0.0, lo_open=True)
    _int(s, "epochs", where, 1)
    _num(s, "epoch_fraction", where, 0.0, lo_open=True)
    if s["patches_per_epoch"] is not None:
        _int(s, "patches_per_epoch", where, 1)
    _num(s, "log_loss", where, 0.0)
    _num(s, "dice_loss", where, 0.0)
    if s["log_loss"] + s["dice_loss"] <= 0:
        raise DstlError(f"{where}: log_loss + dice_loss must be > 0")
    _num(s, "rotate_deg", where, 0.0, 180.0)
    _bool(s, "flips", where)
    _num(s, "jitter", where, 0.0)
    _num(s, "oversample", where, 0.0, 1.0)
    if s["augment_on"] not in AUGMENT_ON:
        raise DstlError(f"{where}: augment_on must be auto, cpu or device, got {s['augment_on']!r}")
    if s["in_memory"] not in ("auto", True, False):
        raise DstlError(f"{where}: in_memory must be auto, true or false, got {s['in_memory']!r}")
    for k in ("bf16", "channels_last", "cudnn_benchmark", "shift_average"):
        _bool(s, k, where)
    if s["num_workers"] != "auto":
        _int(s, "num_workers", where, 0)
    _int(s, "seed", where, 0)
    _int(s, "valid_tile", where, 1)
    _int(s, "tile", where, 1)
    _int(s, "shift_steps", where, 1)
    _int(s, "edge_margin", where, 0)
    return s
