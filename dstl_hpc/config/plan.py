"""What the workflow will do, from a validated config: ids, variants, groups, settings.

Used by the Snakefile to build the DAG, so it imports nothing heavy (no numpy,
no torch): building the DAG of the full 450-image dataset stays fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dstl_hpc.config.checks import check_layout
from dstl_hpc.config.consistency import check_consistency
from dstl_hpc.config.groups import GROUP_KEYS, MEMBER, VARIANTS, resolve_groups
from dstl_hpc.config.parts import Parts
from dstl_hpc.config.results import ResultsPaths
from dstl_hpc.config.results_dir import inputs_outside, results_dir
from dstl_hpc.config.schema_geo import GEO_DEFAULTS
from dstl_hpc.config.schema_keys import (
    CLASS_DEFAULTS,
    DEFAULTS,
    RESOURCE_DEFAULTS,
    SYNTHETIC_DEFAULTS,
)
from dstl_hpc.config.settings import PREDICT_KEYS, TRAIN_DEFAULTS
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_apart, check_path_text
from dstl_hpc.sources.dstl import (
    CHANNELS,
    DSTL_CLASSES,
    SEED_VALIDATION_IDS,
    Layout,
    read_ids,
    synthetic_ids,
)

log = logging.getLogger(__name__)


class Plan(Parts):
    """Ids, groups and per-group / per-class settings resolved from the config; the
    jobs' parts come from :class:`~dstl_hpc.config.parts.Parts`, the paths of the
    results from ``paths`` (:class:`~dstl_hpc.config.results.ResultsPaths`)."""

    def __init__(self, config: dict):
        self.config = config
        self.results = results_dir(self._top("results"))  # ~ expanded; root, home refused
        self.paths = ResultsPaths(self.results)
        data = config["data"]
        self.source = data["source"]
        self.synthetic = self.source == "synthetic"
        self.geo = None  # the geo source (GeoSource), when data.source is geo
        if self.source == "geo":
            self._init_geo(config)
            check_consistency(self)
            return
        self.class_info = DSTL_CLASSES
        if self.synthetic:
            if data.get("dir"):
                raise DstlError(
                    f"config data.dir: {data['dir']} is set, but data.source is synthetic, "
                    "which writes its data under <results>/data and never into a directory "
                    "of yours; remove data.dir, or set data.source: dstl to read your data"
                )
            self.synth = {**SYNTHETIC_DEFAULTS, **config.get("synthetic", {})}
            self.synth["size"] = list(self.synth["size"])
            self.data_dir = self.results / "data"
            self.train_ids, self.test_ids = synthetic_ids(
                self.synth["images"], self.synth["train_images"]
            )
        else:
            if not data.get("dir"):
                raise DstlError(
                    "config data.dir: set it to the DSTL data directory, "
                    "e.g. --config data_dir=/path/to/dstl (or data: {dir: ...} in the config)"
                )
            self.data_dir = Path(data["dir"])
            check_path_text(self.data_dir, "data.dir")
            check_apart(self.data_dir, self.results)
            layout = Layout(self.data_dir)
            self.train_ids = read_ids(layout.train_wkt)
            self.test_ids = read_ids(layout.sample_submission)
        self.layout = Layout(self.data_dir)
        self.validation_ids = self._validation_ids(config.get("validation_ids"))
        self._init_groups(config)
        bad = [k for k in self.classes if k not in self.class_names]
        if bad:
            raise DstlError(f"config groups: DSTL classes are 1..10, not {bad}")
        for name, g in self.groups.items():
            n = int(g.get("n_channels", TRAIN_DEFAULTS["n_channels"]))
            if n > len(CHANNELS):
                raise DstlError(
                    f"config groups.{name}.n_channels: {n}, but a DSTL stack has "
                    f"{len(CHANNELS)} channels"
                )
        check_consistency(self)
        if not self.synthetic:
            check_layout(self.layout, self.train_ids, self.test_ids)

    def _init_groups(self, config: dict) -> None:
        self.variants = list(config.get("variants", VARIANTS))
        self.groups = resolve_groups(config)
        # class -> the groups that predict it (several: candidates, chosen on validation)
        self.class_groups: dict[int, list[str]] = {}
        for name, settings in self.groups.items():
            for ct in settings["classes"]:
                self.class_groups.setdefault(ct, []).append(name)
        self.classes = sorted(self.class_groups)
        self.class_names = {c.id: c.name for c in self.class_info}
        self._check_candidates()

    def _init_geo(self, config: dict) -> None:
        """A geo source: chips of its scenes are the images (``dstl_hpc.sources.geo``)."""
        from dstl_hpc.sources.geo.source import GeoSource

        self.geo = GeoSource({**GEO_DEFAULTS, **config["data"]}, self.results)
        self.data_dir, self.layout = self.geo.data_dir, None
        self.class_info = self.geo.classes
        self.train_ids, self.validation_ids, self.test_ids = self.geo.split_ids()
        if config.get("validation_ids") is not None:
            raise DstlError(
                "config validation_ids: a geo source holds out its validation scenes (split "
                "validation in the scene table); remove validation_ids"
            )
        if self.geo.data_dir is None:  # the user's scenes and labels, never under results
            inputs_outside(self.results, self.geo.input_files(), "data")
        self._init_groups(self.geo.with_class_ids(config))
        self.geo.check_plan(self)

    def _check_candidates(self) -> None:
        for k, groups in self.class_groups.items():
            if len(groups) < 2:
                continue
            if "validation" not in self.variants:
                raise DstlError(
                    f"config groups: class {k} is in {' and '.join(groups)}: one is chosen on "
                    "validation; add the validation variant to variants"
                )
            if self.fixed_threshold(k) is not None:
                raise DstlError(
                    f"config classes.{k}: in several groups ({', '.join(groups)}) its threshold "
                    "is swept per group to choose one: set threshold null"
                )

    def candidates(self, class_type: int) -> list[str]:
        """The groups that predict a class; with several, the one that scores best on
        validation (held out) feeds its polygons."""
        return list(self.class_groups[int(class_type)])

    def _top(self, key: str):
        """A top-level key of the config, or its default (``dstl_hpc.config.schema_keys``)."""
        value = self.config.get(key)
        return DEFAULTS[key] if value is None else value

    # ---------------------------------------------------------------- ids
    def _validation_ids(self, configured):
        if configured is None:
            ids = list(SEED_VALIDATION_IDS) if not self.synthetic else self.train_ids[-2:]
        else:
            ids = [self._training_id(str(i)) for i in configured]
        missing = [i for i in ids if i not in self.train_ids]
        if missing:
            raise DstlError(f"config validation_ids: {missing} are not training ids")
        if len(set(ids)) != len(ids):
            raise DstlError(f"config validation_ids: {ids} lists an id twice")
        if len(ids) >= len(self.train_ids):
            raise DstlError("config validation_ids: leave at least one training image")
        return ids

    def _training_id(self, given: str) -> str:
        """``given``, or the training id YAML read as a number (6140_3_1 -> 614031)."""
        if given in self.train_ids or not given.isdigit():
            return given
        matches = [i for i in self.train_ids if i.replace("_", "") == given]
        if len(matches) == 1:
            log.warning(
                "config validation_ids: %s read as %s (YAML turns an unquoted 6140_3_1 "
                "into a number; quote ids to silence this)",
                given,
                matches[0],
            )
            return matches[0]
        raise DstlError(
            f"config validation_ids: {given} is not a training id; YAML reads an unquoted "
            "id such as 6140_3_1 as the number 614031: quote the ids ('6140_3_1')"
        )

    @property
    def truth_for_training_ids(self) -> bool:
        """Test ids that are training ids get their truth polygons in the submission."""
        return bool(self._top("truth_for_training_ids"))

    @property
    def all_ids(self) -> list[str]:
        """Training ids, then the test ids that are not training ids (computed once:
        the DAG asks for it thousands of times)."""
        if not hasattr(self, "_all_ids"):
            train = set(self.train_ids)
            self._all_ids = self.train_ids + [i for i in self.test_ids if i not in train]
        return self._all_ids

    def fit_ids(self, variant: str) -> list[str]:
        if variant == "validation":
            return [i for i in self.train_ids if i not in self.validation_ids]
        return list(self.train_ids)

    @property
    def stats_ids(self) -> list[str]:
        """The images the channel stats (normalisation) come from, for every variant: the
        training ids less the validation ids (the seed's 20 of 25), so that the held-out
        validation images are never seen, not even by the normalisation (all training ids
        where that leaves none: a geo run of validation scenes only, `variants: [all]`)."""
        return self.fit_ids("validation") or list(self.train_ids)

    def valid_ids(self, variant: str) -> list[str]:
        return list(self.validation_ids) if variant == "validation" else []

    def predict_ids(self, variant: str) -> list[str]:
        return self.validation_ids if variant == "validation" else self.test_ids

    @property
    def stack_compression(self) -> str:
        return str(self._top("stack_compression"))

    # ------------------------------------------------------------ members
    def units(self, group: str) -> list[str]:
        """The training units of a group: the group itself, then {group}__m1... for the
        further ensemble members."""
        if self.groups[group]["model"] != "unet" or self.groups[group]["pretrained"]:
            return []  # an index model, or a model of an earlier run: nothing to train
        n = int(self.groups[group]["members"])
        return [group] + [f"{group}{MEMBER}{m}" for m in range(1, n)]

    @property
    def all_units(self) -> list[str]:
        return [u for g in self.groups for u in self.units(g)]

    def group_of(self, unit: str) -> tuple[str, int]:
        """(group, member index) of a training unit (or of a group: member 0)."""
        group, _, member = unit.partition(MEMBER)
        if group not in self.groups:
            raise DstlError(f"{unit}: not a class group of this config")
        return group, int(member or 0)

    def train_settings(self, unit: str) -> dict:
        """A unit's settings for `dstl-hpc train --settings` (no resources, ensemble keys
        or prediction keys); member m trains with seed + m."""
        group, member = self.group_of(unit)
        skip = GROUP_KEYS + PREDICT_KEYS
        settings = {k: v for k, v in self.groups[group].items() if k not in skip}
        if member:
            settings["seed"] = int(settings.get("seed", 0)) + member
        return settings

    def train_settings_json(self, group: str) -> str:
        return json.dumps(self.train_settings(group), sort_keys=True)

    def predict_settings(self, group: str):
        """A group's PredictSettings (dstl_hpc.predict.settings): what its predictor uses."""
        from dstl_hpc.predict.settings import PredictSettings

        return PredictSettings.of_group(self.groups[group], where=f"config groups.{group}")

    def predict_settings_json(self, group: str) -> str:
        """`dstl-hpc predictor --settings`: the group's PredictSettings as one JSON object."""
        return self.predict_settings(group).to_json()

    def select_from(self, unit: str, variant: str) -> list[str]:
        """The validation run's metrics CSV a unit's ``all`` training chooses its epochs
        from (``checkpoint: best``), as a one-item list; else []."""
        group, _ = self.group_of(unit)
        if variant != "all" or self.groups[group]["checkpoint"] != "best":
            return []
        return [self.paths.metrics("validation", unit)]

    def index_model_args(self, group: str) -> list[str]:
        """`dstl-hpc predictor` flags of a group whose model is an index (else [])."""
        g = self.groups[group]
        if g["pretrained"]:  # an earlier run's model: checked against the group's classes
            return ["--classes", *map(str, g["classes"])]
        if g["model"] == "unet":
            return []
        return ["--index", g["model"], "--classes", *map(str, g["classes"])]  # rule: --group

    def indices_used(self) -> bool:
        """Whether a group uses index channels (or is an index model): DSTL bands only."""
        return any(g.get("indices") or g["model"] != "unet" for g in self.groups.values())

    def predictor_inputs(self, variant: str, group: str) -> list[str]:
        """The model files a group's predictor is made of: its trained units' (an ensemble
        has several), or the ``pretrained`` file of an earlier run."""
        pretrained = self.groups[group]["pretrained"]
        if pretrained:
            return [str(pretrained)]
        return [self.paths.model(variant, u) for u in self.units(group)]

    @property
    def trained_groups(self) -> list[str]:
        """The groups with a UNet to train (an index model trains nothing)."""
        return [g for g in self.groups if self.units(g)]

    def mosaic(self, group: str) -> bool:
        return self.predict_settings(group).mosaic

    def context_ids(self, group: str, ids: list[str]) -> list[str]:
        """With ``mosaic``, the scene neighbours of ``ids`` a predict job reads (their
        stacks' edges give the images context); else none."""
        if not self.mosaic(group):
            return []
        from dstl_hpc.predict.mosaic import neighbour_ids

        known = self.all_ids
        return sorted({n for i in ids for n in neighbour_ids(i, known)} - set(ids))

    def resources(self, unit: str, kind: str) -> dict:
        return dict(self.groups[self.group_of(unit)[0]][f"{kind}_resources"])

    def asks_gpu(self, group: str, kind: str) -> bool:
        r = self.resources(group, kind)
        return bool(r["gpu"]) or "gpu" in (r.get("gres") or "")

    def device(self, group: str, kind: str) -> str:
        """`--device` of a group's train / predict jobs: the config's ``device``, else
        cuda when the job asks for a GPU (no CUDA there: the step stops at once), else auto."""
        r = self.resources(group, kind)
        return r.get("device") or ("cuda" if self.asks_gpu(group, kind) else "auto")

    def step_resources(self, step: str) -> dict:
        return {**RESOURCE_DEFAULTS, **self.config.get("resources", {}).get(step, {})}

    # ------------------------------------------------------------ classes
    def class_settings(self, class_type: int) -> dict:
        """A class's polygon settings: ``class_defaults``, then ``classes.<id>`` (or, geo,
        ``classes.<name>``)."""
        base = dict(CLASS_DEFAULTS)
        base.update(self.config.get("class_defaults", {}))
        per_class = self.config.get("classes", {})
        base.update(per_class.get(str(class_type), {}))
        if self.geo is not None:
            base.update(per_class.get(self.class_names.get(int(class_type), ""), {}))
        return base

    def fixed_threshold(self, class_type: int) -> float | None:
        """The class's threshold set in the config; None: swept on validation."""
        return self.class_settings(class_type)["threshold"]

    @property
    def swept_classes(self) -> list[int]:
        """The classes whose threshold is chosen on validation (``sweep``, ``choose``)."""
        return [k for k in self.classes if self.fixed_threshold(k) is None]

    def fixed_thresholds(self) -> dict[int, float]:
        """Class -> threshold, of the classes whose threshold the config sets."""
        fixed = {k: self.fixed_threshold(k) for k in self.classes}
        return {k: t for k, t in fixed.items() if t is not None}

    def threshold_inputs(self, class_type) -> list[str]:
        """What polygonize reads class k's threshold from: its chosen sweep, or nothing."""
        if self.fixed_threshold(int(class_type)) is not None:
            return []
        return [self.paths.thresholds(class_type)]

    def threshold_args(self, class_type) -> list[str]:
        """`dstl-hpc polygonize` flags of class k's threshold: fixed or chosen."""
        fixed = self.fixed_threshold(int(class_type))
        if fixed is not None:
            return ["--threshold", str(fixed)]
        return ["--threshold-json", self.paths.thresholds(class_type)]

    def pre_buffers(self) -> dict[int, float]:
        grow = {c.id: self.class_settings(c.id)["pre_buffer"] for c in self.class_info}
        return {k: v for k, v in grow.items() if v}

    def sweep_grid_args(self) -> list[str]:
        """`dstl-hpc sweep` flags for the further epsilons / min areas to try."""
        args = []
        for key, flag in (("sweep_epsilons", "--epsilons"), ("sweep_min_areas", "--min-areas")):
            values = self._top(key) or []
            if values:
                args += [flag, *(str(float(v)) for v in values)]
        return args

    def sweep_thresholds(self) -> list[float]:
        return list(self._top("sweep_thresholds"))
