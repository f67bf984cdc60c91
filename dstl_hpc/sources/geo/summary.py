"""The summary of a geo run (``dstl-hpc summary``): scores per class by name, the
optimizer steps of each model and the GIS files written. Standard library only.

Every column names its score: pixel IoU, F1, precision and recall over the scenes'
known pixels, and the polygon Jaccard of the traced polygons; the title of each table
names its scenes and where the thresholds were chosen (validation scenes: on them,
tuned; test scenes: on the validation scenes, held out)."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def _f(v, spec: str = ".3f") -> str:
    return format(v, spec) if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def _scores(path: Path, split: str, why: str, lines: list[str], problems: list[str]) -> None:
    try:
        data = json.loads(path.read_text())
        classes = data["classes"]
    except FileNotFoundError:
        problems.append(f"{path}: missing")
        return
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
        return
    scenes = data.get("scenes") or []
    noun = f"{len(scenes)} {split} scene{'' if len(scenes) == 1 else 's'}"
    lines.append(f"{noun}: {', '.join(scenes)} ({why}):")
    lines.append(
        f"  {'class':<16} {'pixel':>9} {'pixel':>6} {'pixel':>6} {'pixel':>6} {'polygon':>9}"
    )
    lines.append(
        f"  {'':<16} {'IoU':>9} {'F1':>6} {'prec.':>6} {'recall':>6} {'Jaccard':>9} {'threshold':>9}"
    )
    for name in data.get("class_order") or list(classes):
        s = classes[name]
        lines.append(
            f"  {name:<16} {_f(s.get('iou')):>9} {_f(s.get('f1')):>6} "
            f"{_f(s.get('precision')):>6} {_f(s.get('recall')):>6} "
            f"{_f(s.get('polygon_jaccard')):>9} {_f(s.get('threshold'), '.2f'):>9}"
        )
    mean = data.get("mean", {})
    lines.append(
        f"  {'mean':<16} {_f(mean.get('iou')):>9} {_f(mean.get('f1')):>6} {'':>6} {'':>6} "
        f"{_f(mean.get('polygon_jaccard')):>9}"
    )


def _steps(res: Path, lines: list[str]) -> None:
    """Optimizer steps per model, from its metrics CSV (a ``steps`` column per epoch)."""
    rows = []
    for metrics in sorted(res.glob("models/*/*/metrics.csv")):
        try:
            with open(metrics, newline="") as fh:
                table = list(csv.DictReader(fh))
        except OSError:
            continue
        if table and "steps" in table[-1]:
            rows.append(f"{metrics.parent.parent.name}/{metrics.parent.name} {table[-1]['steps']}")
    if rows:
        lines.append("optimizer steps per model: " + ", ".join(rows))


def _test_scenes(res: Path) -> bool:
    """Whether the run's check.json lists a test scene."""
    try:
        scenes = json.loads((res / "geo" / "check.json").read_text())["scenes"]
        return any(s.get("split") == "test" for s in scenes.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def geo_summary(res: Path, expect=("validation", "all")) -> tuple[list[str], list[str]]:
    """(lines, problems) of a geo run; ``expect``: the variants that ran (their files
    missing are problems)."""
    lines: list[str] = [f"dstl-hpc summary of {res}/ (geo source)"]
    problems: list[str] = []
    for split, why, needed in (
        ("validation", "thresholds chosen on these scenes: tuned", "validation" in expect),
        (
            "test",
            "thresholds chosen on the validation scenes: held out",
            "all" in expect and _test_scenes(res),
        ),
    ):
        path = res / split / "scores.json"
        if path.exists() or needed:
            _scores(path, split, why, lines, problems)
    _steps(res, lines)
    merged = sorted(res.glob("polygons.*"))
    for path in merged:
        lines.append(f"polygons, all predicted scenes: {path.resolve()}")
    cogs = sorted(res.glob("geo/all/probabilities/*.tif"))
    if cogs:
        lines.append(
            f"probability COGs ({len(cogs)} scene{'' if len(cogs) == 1 else 's'}): {cogs[0].parent.resolve()}/"
            " (one band per class, p * 254, nodata 255)"
        )
    if not merged and "all" in expect:
        problems.append(f"{res}/polygons.gpkg: missing (the 'all' variant did not finish)")
    lines.append("load them: geopandas.read_file(PATH), or drag the files into QGIS (CRS included)")
    return lines, problems
