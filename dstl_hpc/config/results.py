"""Where each step writes under ``results/``: one place for every path between steps.

``ResultsPaths(root)`` gives the path strings the rules, ``Plan`` and the commands use
(the layout is in the README's Architecture table and docs/contracts.md). Every
argument may be a wildcard such as ``"{variant}"``: the rules' output patterns and the
paths of one job come from the same method. Only the standard library is used: the
Snakefile builds its DAG with it, and ``dstl-hpc summary`` reads a run with it.
"""

from __future__ import annotations

from pathlib import Path


class ResultsPaths:
    """The paths under one results directory, as strings."""

    def __init__(self, root):
        self.root = str(Path(root))

    def __repr__(self) -> str:
        return f"ResultsPaths({self.root!r})"

    # ------------------------------------------------------------ prepare
    def stacks(self, part) -> str:
        """An align (geo: geo-chips) job's folder of stacks."""
        return f"{self.root}/stacks/part{part}"

    def stack(self, part, image) -> str:
        return f"{self.stacks(part)}/{image}.h5"

    def mask(self, image) -> str:
        """A DSTL training mask (one file per image)."""
        return f"{self.root}/masks/{image}.h5"

    def masks(self, part) -> str:
        """A geo-chips job's folder of masks."""
        return f"{self.root}/masks/part{part}"

    def stats(self) -> str:
        return f"{self.root}/stats.json"

    def classes(self) -> str:
        """The source's classes (``dstl_hpc.sources.base.classes_json``)."""
        return f"{self.root}/classes.json"

    # -------------------------------------------------------------- train
    def model_dir(self, variant, unit) -> str:
        return f"{self.root}/models/{variant}/{unit}"

    def model(self, variant, unit) -> str:
        return f"{self.model_dir(variant, unit)}/model.pt"

    def metrics(self, variant, unit) -> str:
        return f"{self.model_dir(variant, unit)}/metrics.csv"

    def checkpoint(self, variant, unit) -> str:
        """The resumable checkpoint of a training (not an output: a retry resumes it)."""
        return f"{self.root}/checkpoints/{variant}/{unit}.ckpt"

    # ------------------------------------------------------------ predict
    def predictor(self, variant, group) -> str:
        return f"{self.model_dir(variant, group)}/predictor.pt"

    def prediction_dir(self, variant, group, part) -> str:
        """A predict job's folder of probabilities."""
        return f"{self.root}/predictions/{variant}/{group}/part{part}"

    def prediction(self, variant, group, part, image) -> str:
        return f"{self.prediction_dir(variant, group, part)}/{image}.h5"

    # --------------------------------------------------- scores, polygons
    def sweep(self, k, group) -> str:
        """One group's threshold sweep of class k (``dstl_hpc.scoring.files``)."""
        return f"{self.root}/validation/sweeps/class_{k}/{group}.json"

    def thresholds(self, k) -> str:
        """Class k's chosen group and threshold (``dstl-hpc choose``)."""
        return f"{self.root}/validation/thresholds/class_{k}.json"

    def scores(self, split) -> str:
        """``validation`` or ``test`` scores (``dstl_hpc.scoring.files``)."""
        return f"{self.root}/{split}/scores.json"

    def polygon_part(self, variant, k, part) -> str:
        return f"{self.root}/polygons/{variant}/class_{k}/part{part}.csv"

    def polygons(self, variant, k) -> str:
        return f"{self.root}/polygons/{variant}/class_{k}.csv"

    def submission(self) -> str:
        return f"{self.root}/submission.csv.gz"

    def submission_sources(self) -> str:
        return f"{self.root}/submission_sources.json"

    # ------------------------------------------------------------ geo source
    def geo_check(self) -> str:
        return f"{self.root}/geo/check.json"

    def geo_probabilities(self, variant, scene) -> str:
        """A scene's probability COG."""
        return f"{self.root}/geo/{variant}/probabilities/{scene}.tif"

    def geo_polygons(self, variant, scene, ext) -> str:
        """A scene's polygons (``ext``: gpkg or geojson)."""
        return f"{self.root}/geo/{variant}/polygons/{scene}.{ext}"

    def geo_thresholds(self) -> str:
        """The thresholds chosen on the validation scenes."""
        return f"{self.root}/validation/thresholds.json"

    def merged_polygons(self, ext) -> str:
        """Every predicted scene's polygons: the geo run's final layer."""
        return f"{self.root}/polygons.{ext}"

    # ------------------------------------------------------ report, logs
    def report(self, *names) -> str:
        """The report folder, or a file (or folder) under it."""
        return "/".join([f"{self.root}/report", *map(str, names)])

    def logs(self) -> str:
        return f"{self.root}/logs"
