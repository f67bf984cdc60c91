"""A group's prediction settings, as one object (``PredictSettings``).

Built once from a group's config (``PredictSettings.of_group``, in ``Plan``), it
reaches ``dstl-hpc predictor`` as one JSON object (``--settings``), is stored in
``predictor.pt`` (key ``predict``) and read back by ``predict``
(``PredictSettings.of_model``). Its keys are the prediction settings of
``dstl_hpc.config.settings.SETTINGS`` (``stage`` "predict") and the group keys
``ensemble`` and ``checkpoint`` of ``dstl_hpc.config.schema_keys.GROUP_EXTRAS``; their
defaults are read from there, never written here. Training never receives them.

Imported by the Snakefile (through ``Plan``): no torch, no numpy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from dstl_hpc.config.schema_keys import GROUP_EXTRA_DEFAULTS, GROUP_EXTRAS
from dstl_hpc.config.settings import PREDICT_DEFAULTS, PREDICT_KEYS, check_keys, check_value
from dstl_hpc.errors import DstlError

# The group keys (dstl_hpc.config.schema_keys) that decide what predicts, beside PREDICT_KEYS.
PREDICTOR_KEYS = ("ensemble", "checkpoint")


@dataclass(frozen=True)
class PredictSettings:
    """What ``predictor`` and ``predict`` do with a trained model.

    tile: output side of a prediction tile; shift_average, shift_steps: average over
    shift_steps x shift_steps shifted tilings (``dstl_hpc.predict.tiles.shift_offsets``);
    edge_margin: pixels near the image edge set to 0; mosaic: scene neighbours as
    context; ensemble: how members are combined (mean, median); checkpoint: the
    weights predicted with (last, best)."""

    tile: int = PREDICT_DEFAULTS["tile"]
    shift_average: bool = PREDICT_DEFAULTS["shift_average"]
    shift_steps: int = PREDICT_DEFAULTS["shift_steps"]
    edge_margin: int = PREDICT_DEFAULTS["edge_margin"]
    mosaic: bool = PREDICT_DEFAULTS["mosaic"]
    ensemble: str = GROUP_EXTRA_DEFAULTS["ensemble"]
    checkpoint: str = GROUP_EXTRA_DEFAULTS["checkpoint"]

    @staticmethod
    def keys() -> tuple[str, ...]:
        return tuple(f.name for f in fields(PredictSettings))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "prediction settings"):
        """The settings given in ``values`` (each checked), the defaults for the rest."""
        check_keys(values, where, known=cls.keys())
        out = {}
        try:
            for k, v in values.items():
                if k in PREDICT_KEYS:
                    out[k] = check_value(k, v)
                elif v not in GROUP_EXTRAS[k]["enum"]:
                    raise DstlError(f"{k} must be one of {GROUP_EXTRAS[k]['enum']}, got {v!r}")
                else:
                    out[k] = v
        except DstlError as exc:
            raise DstlError(f"{where}: {exc}") from None
        return cls(**out)

    @classmethod
    def of_group(cls, group: dict[str, Any], where: str = "prediction settings"):
        """A group's prediction settings, from its merged config (``Plan.groups``)."""
        return cls.from_dict({k: group[k] for k in cls.keys() if k in group}, where)

    @classmethod
    def of_model(cls, meta: dict[str, Any], where: str = "model file"):
        """The settings a predictor file holds (``predict``). A model file without them:
        the defaults, or the prediction keys an older model file recorded in its
        ``hparams`` (and an older predictor's ``combine`` and ``checkpoint``)."""
        if "predict" in meta:
            return cls.from_dict(dict(meta["predict"]), where)
        hp = meta.get("hparams", {})
        old = {k: hp[k] for k in PREDICT_KEYS if k in hp}
        if "combine" in meta:
            old["ensemble"] = meta["combine"]
        if "checkpoint" in meta:
            old["checkpoint"] = meta["checkpoint"]
        return cls.from_dict(old, where)

    def overridden(self, **given) -> PredictSettings:
        """These settings with the non-None ``given`` ones replaced (a hand-run
        ``predict``'s flags); a shift_steps given turns shift averaging on."""
        given = {k: v for k, v in given.items() if v is not None}
        if "shift_steps" in given:
            given.setdefault("shift_average", True)
        return self.from_dict({**asdict(self), **given}, "overrides")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "--settings"):
        from dstl_hpc.argtypes import json_object

        return cls.from_dict(json_object(text, where), where)
