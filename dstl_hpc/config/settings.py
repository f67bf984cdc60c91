"""Group settings of ``dstl-hpc train`` (and of ``predict``): each defined once.

``SETTINGS`` is the one place where a setting's name, kind, range, default and help
live. Everything else is derived from it: the defaults (``TRAIN_DEFAULTS``), the
checks (``validate_settings``), the ``train`` flags and their help
(``dstl_hpc/commands/train.py``), the group settings of the JSON schema that
the workflow validates the config with (``dstl_hpc/config/schema.py`` writes
``workflow/schemas/config.schema.yaml``), and the table of keys in
``docs/settings.md``. A group's settings are one flat dict: the workflow merges
``defaults`` with ``groups.<name>`` (``merge_settings``) and passes it as JSON to
``dstl-hpc train --settings``.

Two disjoint sets of keys: training settings (``stage`` "train": ``TRAIN_KEYS``,
``TRAIN_DEFAULTS``), which ``train`` receives and ``model.pt`` records, and
prediction settings (``stage`` "predict": ``PREDICT_KEYS``, ``PREDICT_DEFAULTS``),
which reach ``dstl-hpc predictor`` as one ``PredictSettings``
(``dstl_hpc.predict.settings``) and are recorded in ``predictor.pt`` only.

This module is imported by the Snakefile: it must stay cheap (no torch, no numpy).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from dstl_hpc.errors import DstlError


class Setting(NamedTuple):
    """One group setting. ``kind``: int, number, bool, choice, classes, epochs (a list
    of epochs) or names (a list of ``choices``). ``minimum``/``maximum`` bound numbers (``open`` makes them
    strict: "lo", "hi" or "both"); ``choices`` lists a choice's values (an int with
    choices is one of them); ``nullable`` admits null, ``auto`` the string "auto"."""

    default: Any
    help: str
    kind: str
    minimum: float | None = None
    maximum: float | None = None
    open: str = ""
    choices: tuple = ()
    nullable: bool = False
    auto: bool = False
    stage: str = "train"  # "predict": a prediction setting (PredictSettings), never train's


S = Setting
SETTINGS: dict[str, Setting] = {
    "classes": S(
        None,
        "classes predicted by the group's model: DSTL ClassTypes 1..10, or (geo) class names "
        "or ids 1..N of data.class_map",
        "classes",
    ),
    "n_channels": S(
        12,
        "input channels: the first N of R,G,B,P,M1..M8,A1..A8 (DSTL, at most 20); a geo "
        "source's bands in their order (default: all of them)",
        "int",
        1,
        256,
    ),
    "indices": S(
        [],
        "index channels added after the first n_channels (they need the M bands): ndvi, ndwi, "
        "ccci, evi, savi (dstl_hpc.prepare.indices)",
        "names",
        choices=("ndvi", "ndwi", "ccci", "evi", "savi"),
    ),
    "filters_base": S(32, "UNet filters at the top level; levels use x1,2,4,8,16", "int", 1),
    "top_scale": S(
        2, "first max-pooling factor (4: faster, for small objects)", "int", choices=(2, 4)
    ),
    "dropout": S(
        0.0, "Dropout2d probability after each UNet block (0 = off)", "number", 0, 1, "hi"
    ),
    "patch_inner": S(64, "side of a training patch's target (output) in pixels", "int", 8),
    "patch_border": S(
        16, "context pixels on each side of the target (input = inner + 2 border)", "int", 0
    ),
    "batch_size": S(128, "patches per batch", "int", 1),
    "lr": S(1e-4, "Adam learning rate", "number", 0, open="lo"),
    "lr_decay_epochs": S([25, 50], "epochs after which the learning rate is divided", "epochs"),
    "lr_decay_factor": S(
        5.0, "divisor of the learning rate at each lr_decay_epochs entry", "number", 0, open="lo"
    ),
    "optimizer_reset": S(
        False,
        "at each learning-rate drop, forget Adam's moments and step counts (a new Adam, as "
        "the seed's code made one per drop); false: they carry over",
        "bool",
    ),
    "epochs": S(70, "training epochs", "int", 1),
    "epoch_fraction": S(
        0.5, "patches per epoch cover this fraction of the training area", "number", 0, open="lo"
    ),
    "patches_per_epoch": S(
        None,
        "patches per epoch whatever the number of images (the seed's code: about 70.9k); "
        "null: epoch_fraction of the training area",
        "int",
        1,
        nullable=True,
    ),
    "min_steps": S(
        0,
        "at least this many optimizer steps in a training: when epochs x the batches of "
        "epoch_fraction (or patches_per_epoch) give fewer, each epoch gets more batches, "
        "so that a small labelled area still trains enough to learn real imagery (0: off; "
        "a geo source's default is 2000)",
        "int",
        0,
    ),
    "log_loss": S(1.0, "weight of the binary cross-entropy term of the loss", "number", 0),
    "dice_loss": S(10.0, "weight of the dice term of the loss", "number", 0),
    "rotate_deg": S(
        180.0, "patches are rotated by a uniform angle in +-rotate_deg degrees", "number", 0, 180
    ),
    "flips": S(True, "random horizontal and vertical flips of patches", "bool"),
    "jitter": S(0.0, "std of a per-channel multiplicative factor around 1 (0 = off)", "number", 0),
    "oversample": S(
        0.0, "probability that a patch is redrawn until it holds a positive pixel", "number", 0, 1
    ),
    "sample_margin": S(
        0,
        "pixels a training patch's target keeps from every image edge; 0: anywhere (context "
        "beyond an edge mirrored, as prediction does); auto: the border plus the rotated "
        "window, so no pixel read lies outside the image (the seed's patches)",
        "int",
        0,
        auto=True,
    ),
    "augment_on": S(
        "auto",
        "where patches are rotated, flipped and jittered: cpu (cv2 in the DataLoader, one warp "
        "per patch), device (whole batches on the training device with affine_grid + "
        "grid_sample; the DataLoader only crops), auto (device on CUDA, else cpu)",
        "choice",
        choices=("auto", "cpu", "device"),
    ),
    "in_memory": S(
        "auto",
        "keep stacks and masks in RAM: auto (if < 25% of the memory budget: the tightest of "
        "MemAvailable, the cgroup hierarchy and SLURM's allocation), true, false",
        "bool",
        auto=True,
    ),
    "bf16": S(True, "bfloat16 autocast on CUDA", "bool"),
    "channels_last": S(True, "channels-last memory format on CUDA", "bool"),
    "cudnn_benchmark": S(True, "cudnn.benchmark on CUDA", "bool"),
    "num_workers": S(
        0, "DataLoader worker processes, or auto (0 on CPU, up to 8 on CUDA)", "int", 0, auto=True
    ),
    "seed": S(0, "random seed of initialisation and sampling", "int", 0),
    "valid_tile": S(512, "output side of the tiles validation images are predicted in", "int", 16),
    "tile": S(1024, "predict: output side of a prediction tile", "int", 16, stage="predict"),
    "shift_average": S(
        True, "predict: average predictions over shifted tilings", "bool", stage="predict"
    ),
    "shift_steps": S(
        3,
        "predict: shifts per axis when shift_average (step = inner / steps)",
        "int",
        1,
        stage="predict",
    ),
    "edge_margin": S(
        0,
        "predict: pixels within this distance of the image edge are left empty",
        "int",
        0,
        stage="predict",
    ),
    "mosaic": S(
        False,
        "predict: surround each image with its scene neighbours' pixels ({scene}_{row}_{col} "
        "tiles) instead of mirroring its edges (mirrored where a neighbour is missing)",
        "bool",
        stage="predict",
    ),
}
del S

TRAIN_KEYS = tuple(k for k, s in SETTINGS.items() if s.stage == "train")
PREDICT_KEYS = tuple(k for k, s in SETTINGS.items() if s.stage == "predict")
# What train receives (and model.pt records); what predictor receives (PredictSettings).
TRAIN_DEFAULTS: dict[str, Any] = {k: SETTINGS[k].default for k in TRAIN_KEYS}
PREDICT_DEFAULTS: dict[str, Any] = {k: SETTINGS[k].default for k in PREDICT_KEYS}
SETTINGS_HELP: dict[str, str] = {k: s.help for k, s in SETTINGS.items()}
AUGMENT_ON = SETTINGS["augment_on"].choices
REQUIRED = tuple(k for k, s in SETTINGS.items() if s.default is None and not s.nullable)


def copy_defaults() -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in TRAIN_DEFAULTS.items()}


def check_keys(settings: Mapping[str, Any], where: str = "settings", known=None) -> None:
    """DstlError naming every key not in ``known`` (default: every setting), with the
    closest known name."""
    known = list(SETTINGS if known is None else known)
    if not isinstance(settings, Mapping):
        raise DstlError(f"{where}: expected a mapping of settings, got {type(settings).__name__}")
    unknown = [k for k in settings if k not in known]
    if unknown:
        parts = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), known, n=1)
            parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise DstlError(
            f"{where}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; "
            f"known: {', '.join(known)}"
        )


def merge_settings(*layers: Mapping[str, Any] | None, where: str = "settings") -> dict[str, Any]:
    """The training settings: TRAIN_DEFAULTS updated by each layer in turn (None layers
    skipped), validated. Prediction settings in a layer (a group's config holds both)
    are checked and left out: training never receives them."""
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


def _check_range(key: str, v, spec: Setting) -> None:
    lo_open, hi_open = spec.open in ("lo", "both"), spec.open in ("hi", "both")
    lo, hi = (None if b is None else type(v)(b) for b in (spec.minimum, spec.maximum))
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise DstlError(f"{key} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise DstlError(f"{key} must be {'<' if hi_open else '<='} {hi}, got {v}")


def _int_value(key: str, v, spec: Setting) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not _is_int(v):
        raise DstlError(f"{key} must be an integer, got {v!r}")
    if spec.choices and v not in spec.choices:
        raise DstlError(f"{key} must be one of {list(spec.choices)}, got {v}")
    _check_range(key, v, spec)
    return v


def _number_value(key: str, v, spec: Setting) -> float:
    if not (isinstance(v, int | float) and not isinstance(v, bool)) or not math.isfinite(v):
        raise DstlError(f"{key} must be a finite number, got {v!r}")
    v = float(v)
    _check_range(key, v, spec)
    return v


def _bool_value(key: str, v, spec: Setting) -> bool:
    if not isinstance(v, bool):
        choices = "auto, true or false" if spec.auto else "true or false"
        raise DstlError(f"{key} must be {choices}, got {v!r}")
    return v


def _choice_value(key: str, v, spec: Setting) -> str:
    if v not in spec.choices:
        *first, last = spec.choices
        raise DstlError(f"{key} must be {', '.join(first)} or {last}, got {v!r}")
    return v


MAX_CLASSES = 255  # class ids of any source (DSTL: 1..10, checked by its plan)


def _classes_value(key: str, v, spec: Setting) -> list[int]:
    if v is None:
        raise DstlError(f"{key} is required (a list of ClassTypes 1..10)")
    if _is_int(v):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise DstlError(f"{key} must be a non-empty list of ClassTypes, got {v!r}")
    if not all(_is_int(c) and 1 <= c <= MAX_CLASSES for c in v):
        raise DstlError(f"{key} must be class ids in 1..{MAX_CLASSES}, got {list(v)}")
    if len(set(v)) != len(v):
        raise DstlError(f"{key} has duplicates: {list(v)}")
    return [int(c) for c in v]


def _names_value(key: str, v, spec: Setting) -> list[str]:
    if not isinstance(v, list | tuple) or not all(x in spec.choices for x in v):
        raise DstlError(f"{key} must be a list of {', '.join(spec.choices)}, got {v!r}")
    if len(set(v)) != len(v):
        raise DstlError(f"{key} has duplicates: {list(v)}")
    return list(v)


def _epochs_value(key: str, v, spec: Setting) -> list[int]:
    if _is_int(v):
        v = [v]
    if not isinstance(v, list | tuple) or not all(_is_int(e) and e >= 1 for e in v):
        raise DstlError(f"{key} must be a list of epochs >= 1, got {v!r}")
    return sorted(int(e) for e in v)


CHECKS = {
    "int": _int_value,
    "number": _number_value,
    "bool": _bool_value,
    "choice": _choice_value,
    "classes": _classes_value,
    "epochs": _epochs_value,
    "names": _names_value,
}


def check_value(key: str, value):
    """The normalised value of one setting (ints as int, numbers as float, lists
    sorted where order does not matter), or DstlError("<key> must ...")."""
    spec = SETTINGS[key]
    if value is None and spec.nullable:
        return None
    if value == "auto" and spec.auto:
        return "auto"
    return CHECKS[spec.kind](key, value, spec)


def input_divisor(top_scale: int) -> int:
    """The UNet input side must be a multiple of this (four poolings)."""
    return int(top_scale) * 8


def validate_settings(settings: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """Check a complete dict of training settings; returns a normalised copy (floats as
    float...) of the training settings only. Prediction settings it holds (a group's
    config; model files written before they were told apart) are checked and left out."""
    check_keys(settings, where)
    missing = [k for k in TRAIN_DEFAULTS if k not in settings]
    if missing:
        raise DstlError(f"{where}: missing setting(s) {', '.join(missing)}")
    try:
        for k in PREDICT_KEYS:
            if k in settings:
                check_value(k, settings[k])
        s = {k: check_value(k, settings[k]) for k in TRAIN_KEYS}
    except DstlError as exc:
        raise DstlError(f"{where}: {exc}") from None
    div = input_divisor(s["top_scale"])
    side = s["patch_inner"] + 2 * s["patch_border"]
    if side % div:
        raise DstlError(
            f"{where}: patch_inner + 2 * patch_border = {side} must be divisible by {div} "
            f"(top_scale {s['top_scale']})"
        )
    if s["log_loss"] + s["dice_loss"] <= 0:
        raise DstlError(f"{where}: log_loss + dice_loss must be > 0")
    return s


# ------------------------------------------------------------------ JSON schema


def schema_of(spec: Setting) -> dict:
    """The JSON-schema fragment of one setting (no default: a group's settings are
    layered over ``defaults`` by ``merge_settings``, not filled in by the schema)."""
    if spec.kind == "classes":
        out = {"type": "array", "items": {"$ref": "#/$defs/class_type"}, "minItems": 1}
        out["uniqueItems"] = True
    elif spec.kind == "epochs":
        out = {"type": "array", "items": {"type": "integer", "minimum": 1}}
    elif spec.kind == "names":
        out = {"type": "array", "items": {"enum": list(spec.choices)}, "uniqueItems": True}
    elif spec.kind == "choice" or spec.choices:
        out = {"enum": list(spec.choices)}
    else:
        out = {"type": {"int": "integer", "number": "number", "bool": "boolean"}[spec.kind]}
        for bound, name in ((spec.minimum, "minimum"), (spec.maximum, "maximum")):
            if bound is not None:
                strict = spec.open in ({"minimum": "lo", "maximum": "hi"}[name], "both")
                key = "exclusive" + name.title() if strict else name
                out[key] = bound
    if spec.nullable:
        out["type"] = [out["type"], "null"]
    if spec.auto:
        out = {"anyOf": [out, {"const": "auto"}]}
    out["description"] = spec.help
    return out


def settings_schema() -> dict:
    """The ``$defs/settings`` object of the config schema."""
    return {
        "description": "UNet training and prediction settings of a class group",
        "type": "object",
        "additionalProperties": False,
        "properties": {k: schema_of(s) for k, s in SETTINGS.items()},
    }
