"""How one prediction runs (``PredictOptions``): a predictor file's prediction settings,
the model's training settings the tiler needs (patch_inner, bf16, channels_last) and
run-time choices (batch, bf16_cpu). No torch."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dstl_hpc.config.settings import PREDICT_DEFAULTS, TRAIN_DEFAULTS
from dstl_hpc.predict.settings import PredictSettings
from dstl_hpc.predict.tiles import shift_offsets


@dataclass
class PredictOptions:
    """How one prediction runs: the prediction settings (defaults: the settings
    source's), the model's training settings it needs, and run-time choices."""

    tile: int = PREDICT_DEFAULTS["tile"]
    shift_steps: int = PREDICT_DEFAULTS["shift_steps"]  # 1 = no shift averaging
    patch_inner: int = TRAIN_DEFAULTS["patch_inner"]
    edge_margin: int = PREDICT_DEFAULTS["edge_margin"]
    batch: int = 1
    bf16: bool = TRAIN_DEFAULTS["bf16"]  # CUDA only, unless bf16_cpu
    channels_last: bool = TRAIN_DEFAULTS["channels_last"]  # CUDA only
    bf16_cpu: bool = False  # with bf16: autocast on the CPU too (benchmarks; off in the workflow)
    mosaic: bool = PREDICT_DEFAULTS["mosaic"]  # scene neighbours (dstl_hpc.predict.mosaic)
    shift_average: bool = PREDICT_DEFAULTS["shift_average"]  # False: one tiling
    combine: str = PredictSettings.ensemble  # how ensemble members are combined

    @classmethod
    def of(cls, settings: PredictSettings, meta: dict, **run) -> PredictOptions:
        """The options of ``settings`` for the model of ``meta`` (its hparams: patch_inner,
        bf16, channels_last), with the run-time ``run`` ones (batch, bf16_cpu...)."""
        hp = meta.get("hparams", {})
        opt = cls(
            tile=settings.tile,
            shift_steps=settings.shift_steps,
            shift_average=settings.shift_average,
            edge_margin=settings.edge_margin,
            mosaic=settings.mosaic,
            combine=settings.ensemble,
            patch_inner=int(hp.get("patch_inner", TRAIN_DEFAULTS["patch_inner"])),
            bf16=bool(hp.get("bf16", TRAIN_DEFAULTS["bf16"])),
            channels_last=bool(hp.get("channels_last", TRAIN_DEFAULTS["channels_last"])),
        )
        return replace(opt, **run)

    @property
    def offsets(self) -> list[int]:
        """The shift offsets along one axis (``dstl_hpc.predict.tiles.shift_offsets``)."""
        return shift_offsets(self.patch_inner, self.shift_steps, self.shift_average)


def options_from_meta(meta: dict, **overrides) -> PredictOptions:
    """PredictOptions of a predictor (or model) file's ``PredictSettings`` and hparams,
    with the non-None ``overrides`` applied: prediction settings (a shift_steps turns
    shift averaging on) and run-time options (batch, bf16_cpu...)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    keys = PredictSettings.keys()
    settings = PredictSettings.of_model(meta).overridden(
        **{k: v for k, v in given.items() if k in keys}
    )
    return PredictOptions.of(settings, meta, **{k: v for k, v in given.items() if k not in keys})
