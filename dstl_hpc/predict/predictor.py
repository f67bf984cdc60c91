"""The model file ``predict`` reads (``models/{variant}/{group}/predictor.pt``).

A trained model file (``model.pt``, written by ``train``, its ``hparams`` the training
settings it received) with the group's ``PredictSettings`` (``dstl_hpc.predict.settings``:
tile, shift averaging, edge margin, mosaic, ensemble, checkpoint) under ``predict``,
so that ``dstl-hpc predict predictor.pt ...`` by hand does what the workflow does.
When a group has several ensemble members, the file holds them all (``members``:
each a state dict and the classes it predicts), combined as ``predict.ensemble``
says (mean or median); the top-level state dict is the first member's, so that a
predictor reads like a model file.
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.predict.settings import PredictSettings
from dstl_hpc.train.model import MODEL_FORMAT, build_model, read_model_obj, save_atomic

# What ensemble members must share: their input, their outputs and their network.
SHARED_META = ("classes", "channels", "mean", "std")
SHARED_HPARAMS = ("n_channels", "indices", "filters_base", "top_scale", "patch_border")


def _check_members(paths, objs) -> None:
    first = objs[0]
    for path, obj in zip(paths[1:], objs[1:], strict=True):
        for key in SHARED_META:
            if obj.get(key) != first.get(key):
                raise DstlError(f"{path}: its {key} differ from {paths[0]}'s (ensemble members)")
        for key in SHARED_HPARAMS:
            if obj["hparams"].get(key) != first["hparams"].get(key):
                raise DstlError(f"{path}: its {key} differs from {paths[0]}'s (ensemble members)")


def _members(path, obj: dict, checkpoint: str) -> list[dict]:
    """A model file's members: its last weights for every class, or (``best``) per
    class the weights of the epoch that validated best (dstl_hpc.train.best); classes
    without one (never scored) keep the last weights."""
    classes = [int(k) for k in obj["classes"]]
    if checkpoint == "last":
        return [{"state_dict": obj["state_dict"], "classes": classes, "source": path}]
    if not obj.get("best"):
        raise DstlError(
            f"{path}: no best checkpoints (trained without validation images and without "
            "--select-from)"
        )
    by_epoch: dict[str, list[int]] = {}
    for k in classes:
        entry = obj["best"].get(str(k))
        by_epoch.setdefault(str(entry["epoch"]) if entry else "last", []).append(k)
    return [
        {
            "state_dict": obj["state_dict"] if e == "last" else obj["best_states"][e],
            "classes": ks,
            "source": f"{path} (epoch {e})",
        }
        for e, ks in by_epoch.items()
    ]


def _unit_group(unit: str) -> str:
    """The group of a training unit (``{group}__m{i}``: an ensemble member)."""
    from dstl_hpc.config.groups import MEMBER

    return unit.partition(MEMBER)[0]


def _check_models(paths, objs, group: str | None, variant: str | None) -> None:
    """Each model file trained for ``group`` (or one of its ensemble members) and
    ``variant``, as the ``group`` and ``variant`` it records say (None: not checked)."""
    for path, obj in zip(paths, objs, strict=True):
        have_group, have_variant = str(obj.get("group", "")), str(obj.get("variant", ""))
        if group is not None and _unit_group(have_group) != group:
            raise DstlError(
                f"{path}: a model of group {have_group!r}, asked for a predictor of group {group!r}"
            )
        if variant is not None and have_variant != variant:
            raise DstlError(
                f"{path}: a model of variant {have_variant!r}, asked for a predictor of "
                f"variant {variant!r}"
            )


def write_predictor(
    model_paths,
    out,
    settings: PredictSettings,
    group: str | None = None,
    variant: str | None = None,
    check_models: bool = True,
) -> PredictSettings:
    """Write ``out``: the model file(s) ``model_paths`` (one, or an ensemble's members)
    with ``settings`` (``predict``); ``settings.checkpoint`` best: each class from the
    epoch that validated best. The hparams stay the training settings (those of an
    older model file without the prediction keys it recorded). ``group`` / ``variant``:
    what the predictor is for, recorded (None: the first model's); with
    ``check_models`` every model must record them too (an ensemble member: its group's
    ``{group}__m{i}``); without (a model of an earlier run, ``pretrained``) the model's
    own are kept as ``trained_as``. Returns ``settings``."""
    from dstl_hpc.config.settings import PREDICT_KEYS

    if not isinstance(settings, PredictSettings):
        raise DstlError(f"{out}: settings must be PredictSettings, got {type(settings).__name__}")
    paths = [str(p) for p in model_paths]
    objs = [read_model_obj(p) for p in paths]
    if check_models:
        _check_models(paths, objs, group, variant)
    _check_members(paths, objs)
    obj = {k: v for k, v in objs[0].items() if k not in ("best_states", "combine", "checkpoint")}
    trained_as = {"group": obj.get("group", ""), "variant": obj.get("variant", "")}
    obj["group"] = trained_as["group"] if group is None else group
    obj["variant"] = trained_as["variant"] if variant is None else variant
    if not check_models and trained_as != {"group": obj["group"], "variant": obj["variant"]}:
        obj["trained_as"] = trained_as
    # as trained (train checked them), less an older model file's prediction keys
    obj["hparams"] = {k: v for k, v in obj["hparams"].items() if k not in PREDICT_KEYS}
    checkpoint = settings.checkpoint
    members = [m for p, o in zip(paths, objs, strict=True) for m in _members(p, o, checkpoint)]
    if len(members) > 1 or checkpoint == "best":
        obj["members"] = members
        obj["state_dict"] = members[0]["state_dict"]  # read as a model file: the first
    obj["predict"] = settings.to_dict()
    save_atomic(out, obj)
    return settings


class IndexModel:
    """A model that learns nothing: every class's probability is an index channel
    (dstl_hpc.prepare.indices) rescaled from its range to [0, 1]; the validation sweep then
    chooses the threshold, i.e. the index value that separates the class."""

    def __init__(self, name: str):
        self.name = name

    def probabilities(self, image: np.ndarray, n_classes: int) -> np.ndarray:
        """(n_classes, H, W) float32 from a stack's (>= 12, H, W) uint16 channels."""
        from dstl_hpc.prepare.indices import index_planes

        # an index plane is (value - lo) / (hi - lo) of its range, quantised to uint16
        plane = index_planes(image, [self.name])[0].astype(np.float32) / 65535.0
        return np.repeat(plane[None], n_classes, axis=0)


def write_index_predictor(
    out, index: str, classes, settings: PredictSettings, group: str, variant: str = ""
):
    """Write ``out``: a predictor whose classes are the index ``index`` (no weights),
    predicted with ``settings``, for ``group`` and ``variant`` (recorded). Returns
    ``settings``."""
    from dstl_hpc.config.settings import merge_settings
    from dstl_hpc.prepare.indices import SOURCE_CHANNELS
    from dstl_hpc.sources.dstl import CHANNELS

    if settings.checkpoint != "last":
        raise DstlError(f"{out}: an index model has no checkpoints (checkpoint last)")
    classes = [int(k) for k in classes]
    hparams = merge_settings({"classes": classes}, where=str(out))
    n = SOURCE_CHANNELS  # the bands the index is computed from
    obj = {
        "format": MODEL_FORMAT, "index": index, "hparams": {**hparams, "n_channels": n},
        "classes": classes, "channels": list(CHANNELS[:n]), "mean": [0.0] * n,
        "std": [1.0] * n, "group": group, "variant": variant, "epochs_done": 0,
        "predict": settings.to_dict(),
    }  # fmt: skip
    save_atomic(out, obj)
    return settings


def check_purpose(path, meta: dict, expect_group=None, expect_variant=None) -> None:
    """A predictor (or model) file's recorded ``group`` and ``variant`` against those a
    step was asked for (None: not checked): a DstlError naming the file, what it says
    and what was asked."""
    have = (str(meta.get("group", "")), str(meta.get("variant", "")))
    asked = (
        have[0] if expect_group is None else str(expect_group),
        have[1] if expect_variant is None else str(expect_variant),
    )
    if have != asked:
        raise DstlError(
            f"{path}: a predictor of group {have[0]!r} variant {have[1]!r}, asked for group "
            f"{asked[0]!r} variant {asked[1]!r}"
        )


def read_predictor_meta(path, expect_group=None, expect_variant=None) -> dict:
    """The meta dict of a predictor or model file (no weights), checked against the
    ``expect_group`` / ``expect_variant`` a step was asked for (``check_purpose``)."""
    obj = read_model_obj(path)
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "members", "best_states")}
    check_purpose(path, meta, expect_group, expect_variant)
    return meta


def load_predictor(path, device="cpu", expect_group=None, expect_variant=None):
    """([(model in eval mode, indices of the classes it predicts)], meta) of a predictor
    or model file: one member for a plain model file; an IndexModel for an index one.
    ``expect_group`` / ``expect_variant``: what the caller was asked to predict for
    (``check_purpose``; None: not checked)."""
    obj = read_model_obj(path)
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "members")}
    check_purpose(path, meta, expect_group, expect_variant)
    classes = [int(c) for c in meta["classes"]]
    if obj.get("index"):
        meta["members"] = 1
        return [(IndexModel(obj["index"]), list(range(len(classes))))], meta
    members = obj.get("members") or [{"state_dict": obj["state_dict"], "classes": classes}]
    models = []
    for member in members:
        net = build_model(meta["hparams"], n_in=len(meta["mean"]), n_classes=len(classes))
        net.load_state_dict(member["state_dict"])
        unknown = sorted(set(member["classes"]) - set(classes))
        if unknown:
            raise DstlError(f"{path}: a member predicts classes {unknown} the model has not")
        models.append((net.to(device).eval(), [classes.index(int(k)) for k in member["classes"]]))
    meta["members"] = len(members)
    return models, meta


def combine_members(probs: list[tuple[np.ndarray, list[int]]], n_classes: int, how: str):
    """(n_classes, H, W) float32 from each member's (n_classes, H, W) probabilities and
    the class indices it predicts: per class, the mean or median of its members."""
    out = None
    for c in range(n_classes):
        have = [p[c] for p, idx in probs if c in idx]
        if not have:
            raise DstlError(f"no ensemble member predicts class index {c}")
        plane = have[0] if len(have) == 1 else getattr(np, how)(np.stack(have), axis=0)
        if out is None:
            out = np.empty((n_classes, *plane.shape), np.float32)
        out[c] = plane
    return out
