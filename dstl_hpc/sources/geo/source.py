"""The geo data source at DAG time: scenes, their chips and splits, the classes.

A chip is the DAG's unit for stacks, masks and prediction: a window of a scene's grid
(``chip_size`` px, ``chip_overlap`` px shared with each neighbour), named
``{scene}__{row}_{col}``. The chips of train scenes are training images, those of
validation scenes validation images, those of test and predict scenes the images the
``all`` variant predicts. Scene grids are read from the rasters' headers (rasterio,
imported only for real data); the synthetic geo data's grid is known from its settings
before it exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.base import ClassInfo
from dstl_hpc.sources.geo.chips import chip_id, chip_windows
from dstl_hpc.sources.geo.scenes import Scene, SceneFile, read_scene_table, scenes_from_globs

# Synthetic geo data (``data.geo_synthetic``): what `dstl-hpc geo-synth` writes.
SYNTHETIC_DEFAULTS = {"scenes": 4, "size": 512, "seed": 0}
CLASS_NAME = re.compile(r"[A-Za-z0-9_]+")
# Optimizer steps a geo training makes at least, unless the config sets min_steps.
GEO_MIN_STEPS = 2000


def _values(v) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def _paths(v) -> list[Path]:
    return [Path(p) for p in ([v] if isinstance(v, str) else v or [])]


@dataclass
class GeoSource:
    """Scenes, chips and classes of a ``data: {source: geo}`` config."""

    data: dict
    results: Path
    scenes: list[Scene] = field(default_factory=list)

    def __post_init__(self):
        d = self.data
        self.data_dir = None  # only synthetic data is written by the workflow
        if d.get("geo_synthetic"):
            self.synth = {**SYNTHETIC_DEFAULTS, **d["geo_synthetic"]}
            self.data_dir = self.results / "data"
            n = int(self.synth["scenes"])
            splits = ["train"] * (n - 2) + ["validation", "test"]
            rasters = self.data_dir / "rasters"
            self.scenes = [
                Scene(f"scene{k}", s, (SceneFile(rasters / f"scene{k}_fine.tif"),))
                for k, s in enumerate(splits, 1)
            ]
        elif d.get("scenes"):
            self.scenes = read_scene_table(d["scenes"], d.get("bands"))
        elif d.get("scene_globs"):
            self.scenes = scenes_from_globs(d["scene_globs"], Path.cwd(), d.get("bands"))
        else:
            raise DstlError(
                "config data: a geo source needs scenes (a table), scene_globs or geo_synthetic"
            )
        names = list(d.get("class_map") or {})
        if not names:
            raise DstlError(
                "config data.class_map: name at least one class (name: [values of class_field])"
            )
        bad = [n for n in names if not CLASS_NAME.fullmatch(str(n))]
        if bad:
            raise DstlError(f"config data.class_map: class names {bad} must be letters, digits, _")
        self.classes = [ClassInfo(k, name, "area") for k, name in enumerate(names, 1)]
        self.class_names = {c.id: c.name for c in self.classes}
        self.size = int(d["chip_size"])
        self.overlap = int(d["chip_overlap"])
        if not 0 <= self.overlap < self.size:
            raise DstlError(
                f"config data.chip_overlap: {self.overlap} must be below chip_size {self.size}"
            )
        self._chips: dict[str, list[tuple[int, ...]]] = {}
        self._splits: dict[str, list[str | None]] = {}

    # ------------------------------------------------------------- scenes
    def scene_ids(self, *splits: str) -> list[str]:
        return [s.id for s in self.scenes if s.split in splits]

    def scene(self, scene_id: str) -> Scene:
        for s in self.scenes:
            if s.id == scene_id:
                return s
        raise DstlError(f"{scene_id}: not a scene of this config")

    def n_bands(self) -> int:
        """The bands a scene gives the model (the first scene's; geo-check checks that
        every scene has the same)."""
        if self.data.get("geo_synthetic"):  # the data does not exist yet: its band lists
            from dstl_hpc.sources.geo.synthetic.dataset import COARSE_BANDS, FINE_BANDS

            return len(FINE_BANDS) + len(COARSE_BANDS)
        from dstl_hpc.sources.geo.rasters import inspect_files

        return len(inspect_files(list(self.scenes[0].files)))

    def grid_shape(self, scene_id: str) -> tuple[int, int]:
        if self.data.get("geo_synthetic"):
            size = int(self.synth["size"])
            return size, size
        from dstl_hpc.sources.geo.rasters import scene_grid

        grid = scene_grid(list(self.scene(scene_id).files), self.data.get("resolution"))
        return grid.height, grid.width

    def chips(self, scene_id: str) -> list[tuple[int, ...]]:
        if scene_id not in self._chips:
            h, w = self.grid_shape(scene_id)
            self._chips[scene_id] = chip_windows(h, w, self.size, self.overlap)
        return self._chips[scene_id]

    def chip_splits(self, scene_id: str) -> list[str | None]:
        """The split of each chip of a scene: its scene's, or (``region_split``, train
        scenes) validation / test by region, None for chips dropped in the buffer."""
        if scene_id not in self._splits:
            scene = self.scene(scene_id)
            region = self.data.get("region_split")
            if region and scene.split == "train":
                from dstl_hpc.sources.geo.regions import split_chips

                splits = split_chips(
                    region, scene, self.chips(scene_id), self.data.get("resolution")
                )
            else:
                splits = [scene.split] * len(self.chips(scene_id))
            self._splits[scene_id] = splits
        return self._splits[scene_id]

    def chip_ids(self, *splits: str) -> list[str]:
        """Chips of these splits, scene by scene (in the scenes' order)."""
        return [
            chip_id(s.id, c[0], c[1])
            for s in self.scenes
            for c, split in zip(self.chips(s.id), self.chip_splits(s.id), strict=True)
            if split in splits
        ]

    def scene_chip_ids(self, scene_id: str) -> list[str]:
        """The chips of a scene that are images of the run (not dropped in a buffer)."""
        return [
            chip_id(scene_id, c[0], c[1])
            for c, split in zip(self.chips(scene_id), self.chip_splits(scene_id), strict=True)
            if split is not None
        ]

    def scenes_with(self, *splits: str) -> list[str]:
        """Scenes that have chips of these splits (a region split holds some out)."""
        return [s.id for s in self.scenes if set(self.chip_splits(s.id)) & set(splits)]

    def split_ids(self) -> tuple[list[str], list[str], list[str]]:
        """(training ids, validation ids, predicted ids) as a plan sees images: train and
        validation chips (the validation variant holds the latter out), validation chips,
        test and predict chips."""
        return (
            self.chip_ids("train", "validation"),
            self.chip_ids("validation"),
            self.chip_ids("test", "predict"),
        )

    # ------------------------------------------------------------ classes
    def with_class_ids(self, config: dict) -> dict:
        """The config with class names in ``defaults``/``groups`` turned into class ids."""
        ids = {c.name: c.id for c in self.classes}

        def convert(classes, where):
            out = []
            for c in [classes] if isinstance(classes, str | int) else classes:
                if isinstance(c, str) and c in ids:
                    out.append(ids[c])
                elif isinstance(c, int) and 1 <= c <= len(ids):
                    out.append(c)
                else:
                    raise DstlError(
                        f"config {where}.classes: {c!r} is not a class of data.class_map "
                        f"({', '.join(ids)}) nor an id 1..{len(ids)}"
                    )
            return out

        out = dict(config)
        # real imagery needs steps: unless the config says otherwise, at least GEO_MIN_STEPS;
        # the model reads every band unless n_channels says fewer
        n_bands = self.n_bands()
        out["defaults"] = {
            "min_steps": GEO_MIN_STEPS,
            "n_channels": n_bands,
            **config.get("defaults", {}),
        }
        for g, v in [("defaults", out["defaults"]), *config["groups"].items()]:
            if int(v.get("n_channels", n_bands)) > n_bands:
                raise DstlError(
                    f"config {g if g == 'defaults' else 'groups.' + g}.n_channels: "
                    f"{v['n_channels']}, but the scenes have {n_bands} bands"
                )
        out["groups"] = {}
        for g, v in config["groups"].items():
            v = dict(v)
            if "classes" in v:
                v["classes"] = convert(v["classes"], f"groups.{g}")
            out["groups"][g] = v
        if "classes" in out["defaults"]:
            out["defaults"]["classes"] = convert(out["defaults"]["classes"], "defaults")
        return out

    def check_plan(self, plan) -> None:
        """What a geo run needs before any job: one group per class (every class in a
        group: ``dstl_hpc.config.consistency``), validation scenes for the validation
        variant, scenes to train on and to predict."""
        several = {self.class_names[k]: g for k, g in plan.class_groups.items() if len(g) > 1}
        if several:
            raise DstlError(f"config groups: a geo class is predicted by one group, not {several}")
        if plan.indices_used():
            raise DstlError(
                "config indices: index channels need the DSTL bands; a geo source has its own"
            )
        if "validation" in plan.variants and not plan.validation_ids:
            raise DstlError(
                "config variants: the validation variant needs a scene of split validation, "
                "or a data.region_split (thresholds are chosen there)"
            )
        swept = [self.class_names[k] for k in plan.swept_classes]
        if swept and "validation" not in plan.variants:
            path = self.data.get("thresholds")
            if not path:
                raise DstlError(
                    f"config data.thresholds: without the validation variant, classes {swept} "
                    "need a threshold: an earlier run's validation/thresholds.json, or "
                    "classes.<name>.threshold"
                )
            if not Path(path).is_file():
                raise DstlError(f"config data.thresholds: {path}: no such file")
        if plan.trained_groups and not self.chip_ids("train"):
            raise DstlError("config data: no scene of split train to train on")
        if "all" in plan.variants and not plan.test_ids:
            raise DstlError(
                "config variants: the all variant predicts test or predict scenes: none"
            )

    # --------------------------------------------------------------- spec
    def spec(self) -> dict:
        """What the geo steps need of the config (``geo-check`` keeps it in check.json)."""
        d = self.data
        synthetic = bool(d.get("geo_synthetic"))
        scenes = {
            s.id: {
                "split": s.split,
                "files": [
                    {"path": str(f.path), "bands": list(f.bands) if f.bands else None}
                    for f in s.files
                ],
            }
            for s in self.scenes
        }
        return {
            "scene_table": str(self.data_dir / "scenes.csv") if synthetic else None,
            "scenes": {} if synthetic else scenes,
            "bands": d.get("bands"),
            "resolution": d.get("resolution"),
            "align": bool(d.get("align")),
            "value_range": d.get("value_range"),
            "labels": [str(p) for p in self.label_files],
            "labelled_area": [str(p) for p in self.area_files],
            "class_field": "landuse" if synthetic else d.get("class_field"),
            "classes": {c.name: _values(d["class_map"][c.name]) for c in self.classes},
            "class_names": [c.name for c in self.classes],  # ids 1..N in this order
            "chip_size": self.size,
            "chip_overlap": self.overlap,
        }

    @property
    def label_files(self) -> list[Path]:
        if self.data.get("geo_synthetic"):
            return [self.data_dir / "labels.gpkg"]
        return _paths(self.data.get("labels"))

    @property
    def area_files(self) -> list[Path]:
        if self.data.get("geo_synthetic"):
            return [self.data_dir / "labelled_area.gpkg"]
        return _paths(self.data.get("labelled_area"))

    def input_files(self) -> list[Path]:
        """Every file the checks read (the rasters, labels and labelled area)."""
        rasters = [f.path for s in self.scenes for f in s.files]
        return rasters + self.label_files + self.area_files
