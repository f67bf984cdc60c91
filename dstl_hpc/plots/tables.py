"""The per-class score table (validation or test) against the all-zero baseline.

``score_table`` builds it from a scores JSON (``validation/scores.json``,
``test/scores.json``), the threshold sweeps, the thresholds fixed in the config
(``Plan.fixed_thresholds``), the truth and the run's classes (``classes.json``);
``write_table_csv`` and ``write_table_html`` write it (pandas), ``score_bars`` draws it
as a bar chart (800 x 450 px). Every score column and bar says which score it is
(polygon or pixel Jaccard; held out or tuned) and the page and chart name the images
(``dstl_hpc.scoring.labels``).
"""

from __future__ import annotations

import html
import math
from functools import partial
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import write_text
from dstl_hpc.errors import DstlError
from dstl_hpc.plots.common import class_label, cover_share, names_of, num, pyplot, save_png
from dstl_hpc.scoring.files import read_scores, read_sweep
from dstl_hpc.scoring.labels import image_set, score_kinds

SPLITS = ("validation", "test")
# The CSV's columns around the score columns (one per labelled score: ``Score.column``,
# such as polygon_jaccard_held_out, polygon_jaccard_tuned, pixel_jaccard_tuned).
FIRST_COLUMNS = ["class", "name", "threshold", "threshold_source", "group", "group_choice"]
LAST_COLUMNS = ["baseline_polygon_jaccard", "truth_cover_pct"]
# How the CSV writes a column's numbers; the others with ".6f".
CSV_FORMATS = {"threshold": "g", "truth_cover_pct": ".3f"}


def baseline_text(split: str) -> str:
    """What the all-zero predictor scores, for the ``split`` images."""
    return (
        "The all-zero predictor (no polygons) scores polygon Jaccard 0 for every class "
        f"with truth area on the {split} images; for a class without truth area its "
        "union is empty, the score is undefined and the class is left out of the mean "
        "(as for the model when it predicts nothing there)."
    )


BASELINE_NOTE = baseline_text("validation")


def table_columns(mean: dict) -> list[str]:
    """The CSV's columns of a table (``score_table``'s mean row names its scores)."""
    return [*FIRST_COLUMNS, *(s.column for s in mean["scores"]), *LAST_COLUMNS]


# --------------------------------------------------------------- the table


def _truth_areas(truth_csv, images, ids, grid_sizes=None) -> tuple[dict, float | None]:
    """(ClassType -> truth area within the images summed over ``images`` (grid units)
    for each of ``ids``, total image area); overlapping truth polygons count once."""
    from dstl_hpc.sources.dstl import parse_wkt, read_grid_sizes, read_wkt_csv

    truth = read_wkt_csv(truth_csv)
    grids = read_grid_sizes(grid_sizes) if grid_sizes is not None else {}
    missing = [i for i in images if grid_sizes is not None and i not in grids]
    if missing:
        raise DstlError(f"{grid_sizes}: no grid size for {', '.join(missing)}")
    areas = dict.fromkeys(ids, 0.0)
    for i in images:
        for k, wkt in truth.get(i, {}).items():
            if "EMPTY" in wkt[:40].upper():
                continue
            geom = parse_wkt(wkt, f"{truth_csv}, image {i}, class {k}")
            if i in grids:  # the image's grid rectangle [0, Xmax] x [Ymin, 0]
                xmax, ymin = grids[i]
                bounds = (0.0, ymin, xmax, 0.0)
                share = cover_share(geom, bounds)
                areas[k] = areas.get(k, 0.0) + share * abs(xmax * ymin)
            else:
                areas[k] = areas.get(k, 0.0) + float(geom.area)
    total = sum(abs(grids[i][0] * grids[i][1]) for i in images) if grids else None
    return areas, total


def _thresholds(sweep_paths, fixed, ids) -> dict[int, tuple[float | None, str]]:
    """ClassType -> (threshold or None, where it comes from: fixed, swept or -)."""
    sweeps = {int(d["class"]): d for d in map(read_sweep, sweep_paths)}
    fixed = {int(k): float(v) for k, v in (fixed or {}).items()}
    out = {}
    for k in ids:
        if k in fixed:
            thr, src = fixed[k], "fixed"
        elif k in sweeps:
            thr, src = num(sweeps[k]["threshold"]), "swept"
        else:
            thr, src = math.nan, "-"
        out[k] = (None if math.isnan(thr) else thr, src)
    return out


def _groups(sweep_paths) -> dict[int, tuple[str | None, str]]:
    """ClassType -> (the group that predicts it, how it was chosen: each candidate
    group's held-out score, '' with one) from the sweep JSONs (``dstl-hpc choose``)."""
    out = {}
    for d in map(read_sweep, sweep_paths):
        scores = d.get("group_scores") or {}
        text = "; ".join(f"{g} {_text(v, '.4f', '-')}" for g, v in scores.items())
        out[int(d["class"])] = (d.get("group"), text if len(scores) > 1 else "")
    return out


def score_table(
    scores_json,
    sweep_paths=(),
    truth_csv=None,
    grid_sizes=None,
    fixed=None,
    classes=None,
    split: str = "validation",
) -> tuple[list[dict], dict]:
    """(a row per class, mean row) of the ``split`` table ("validation" or "test").

    ``fixed``: ClassType -> threshold set in the configuration (no sweep file).
    ``truth_csv`` decides which classes have truth area (the baseline's 0 vs undefined).
    ``classes``: the run's classes (``ClassInfo``; default the DSTL classes). The mean
    row holds the labelled ``scores`` (``dstl_hpc.scoring.labels.Score``), the
    ``images`` and the ``split``.
    """
    if split not in SPLITS:
        raise DstlError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    names = names_of(classes)
    scores = read_scores(scores_json)
    thresholds = _thresholds(sweep_paths, fixed, names)
    all_fixed = all(src == "fixed" for _, src in thresholds.values())
    kinds = score_kinds(scores, split, all_fixed)
    groups = _groups(sweep_paths)
    images = list(scores.get("images", []))
    areas, total = (None, None)
    if truth_csv is not None:
        areas, total = _truth_areas(truth_csv, images, names, grid_sizes)
    rows = []
    for k, name in names.items():
        score = scores["per_class"].get(str(k))
        # without the truth, a defined score is the best guess that there is truth area
        has_truth = score is not None if areas is None else areas[k] > 0
        row = {
            "class": k,
            "name": name,
            "threshold": thresholds[k][0],
            "threshold_source": thresholds[k][1],
            "group": groups.get(k, (None, ""))[0],
            "group_choice": groups.get(k, (None, ""))[1],
        }
        row.update({s.column: (scores.get(s.key) or {}).get(str(k)) for s in kinds})
        row.update(
            {
                "baseline_polygon_jaccard": 0.0 if has_truth else None,
                "truth_cover_pct": 100.0 * areas[k] / total
                if areas is not None and total
                else None,
                "has_truth": has_truth,
            }
        )
        rows.append(row)
    mean = {
        "class": "mean",
        "name": "",
        "threshold": None,
        "threshold_source": "",
        "group": None,
        "group_choice": "",
        **{s.column: scores.get(s.mean_key) for s in kinds},
        "baseline_polygon_jaccard": 0.0 if any(r["has_truth"] for r in rows) else None,
        "truth_cover_pct": None,
        "images": images,
        "split": split,
        "scores": kinds,
    }
    return rows, mean


def baseline_note(row: dict) -> str:
    if row.get("class") == "mean":
        return "all-zero predictor: mean over the classes with truth area"
    if row.get("has_truth"):
        return "all-zero predictor: 0 (truth area present)"
    return "all-zero predictor: undefined (no truth area; class left out of the mean)"


# ------------------------------------------------------------- CSV and HTML


def _text(v, spec: str, none: str = "") -> str:
    """A cell's text: floats formatted with ``spec``, None as ``none``."""
    return none if v is None else format(v, spec) if isinstance(v, float) else str(v)


def write_table_csv(path, rows, mean) -> None:
    """The table as CSV: ``table_columns`` and ``baseline_note``; empty cells are
    undefined."""
    import pandas as pd

    columns = table_columns(mean)
    # dtype=object keeps each value as the JSON gave it (None, int or float)
    frame = pd.DataFrame([*rows, mean], columns=columns, dtype=object)
    for c in columns:
        frame[c] = frame[c].map(partial(_text, spec=CSV_FORMATS.get(c, ".6f")))
    frame["baseline_note"] = [baseline_note(r) for r in [*rows, mean]]
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


COVER = "truth cover % (of the images' area)"
CHOICE = "chosen on validation (held-out polygon Jaccard per group)"


def _threshold_text(r: dict) -> str:
    thr = r["threshold"]
    return "-" if thr is None else f"{thr:g} ({r['threshold_source']})"


def _page_frame(rows, mean):
    """The table as the page shows it: text cells, '-' where a score is undefined."""
    import pandas as pd

    every = [*rows, mean]

    def scores(key, spec=".4f"):
        return [_text(r[key], spec, "-") for r in every]

    undefined = ["undefined (no truth)"] * len(rows) + ["-"]
    frame = pd.DataFrame(
        {
            "ClassType": [str(r["class"]) for r in every],
            "name": [r["name"].replace("_", " ") for r in every],
            "threshold": [_threshold_text(r) for r in every],
            "group": [r["group"] or "-" for r in every],
            CHOICE: [r["group_choice"] for r in every],
            **{s.label: scores(s.column) for s in mean["scores"]},
            "all-zero baseline (polygon Jaccard)": [
                _text(r["baseline_polygon_jaccard"], ".4f", none)
                for r, none in zip(every, undefined, strict=True)
            ],
            COVER: scores("truth_cover_pct", ".3f"),
        }
    )
    frame.iloc[-1, :3] = ["mean over classes", "", ""]  # the mean row
    frame.iloc[-1, -1] = ""
    frame.iloc[-1, 3] = ""  # the mean row has no group
    if not any(r["group_choice"] for r in rows):
        frame = frame.drop(columns=CHOICE)
    if all(r["truth_cover_pct"] is None for r in rows):
        frame = frame.drop(columns=COVER)
    return frame


PAGE_STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f0f0f0; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:nth-child(2) { text-align: left; }
tbody tr:last-child td { border-top: 2px solid #444; }
tbody tr:last-child td:first-child { font-weight: bold; text-align: left; }
p.note { max-width: 50em; color: #333; }
"""


def write_table_html(path, rows, mean) -> None:
    """A self-contained HTML page with the table (the report shows it in a frame)."""
    split, images = mean["split"], mean.get("images") or []
    table = _page_frame(rows, mean).to_html(index=False, border=0, justify="center")
    kinds = "".join(
        f"<li><b>{html.escape(s.label)}</b>: {html.escape(s.thresholds)}</li>"
        for s in mean["scores"]
    )
    threshold_note = (
        "Threshold: the class's probability threshold (swept on the validation images "
        "or fixed in the configuration)"
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{split.capitalize()} scores</title>
<style>{PAGE_STYLE}</style></head><body>
<h3>{split.capitalize()} scores per class: {html.escape(image_set(images, split, limit=50))}</h3>
<p>Polygon Jaccard: the competition's metric (intersection and union areas of the
polygons summed over the {len(images)} {split} image(s)); pixel Jaccard: the same
polygons rasterised. {threshold_note}. A score of - is undefined: no truth and no
predicted area on these images.</p>
<ul>{kinds}</ul>
{table}
<p class="note">{html.escape(baseline_text(split))}</p>
</body></html>
"""
    write_text(path, page)


# ---------------------------------------------------------------- bar chart


def score_bars(path, rows, mean) -> Path:
    """The bar chart of the table (``score_bars_figure``) written to ``path``."""
    return save_png(score_bars_figure(rows, mean), path)


def score_bars_figure(rows, mean):
    """Bar chart of the table (800 x 450 px), unsaved: each labelled score per class
    (polygon Jaccard held out, tuned when there is one, pixel Jaccard) vs the baseline."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = pyplot().subplots(figsize=(8, 4.5), constrained_layout=True)
    kinds = mean["scores"]
    x = np.arange(len(rows))
    w = 0.8 / len(kinds)
    first = np.array([num(r[kinds[0].column]) for r in rows])
    for j, s in enumerate(kinds):
        vals = np.array([num(r[s.column]) for r in rows])
        at = x - 0.4 + w * (j + 0.5)
        ax.bar(at, np.nan_to_num(vals), w, color=f"C{j}", label=s.label)
        if j == 0:  # the headline score's values over its bars
            for i in np.flatnonzero(np.isfinite(vals)):
                ax.text(at[i], vals[i] + 0.01, f"{vals[i]:.2f}", ha="center", va="bottom",
                        fontsize=7)  # fmt: skip
    for i, r in enumerate(rows):
        if r["has_truth"]:
            ax.hlines(0, i - 0.45, i + 0.45, color="k", lw=3)
        if np.isnan(first[i]) and not r["has_truth"]:
            ax.text(
                i, 0.02, "no truth", ha="center", va="bottom", rotation=90, fontsize=8, color="0.4"
            )
    m = num(mean[kinds[0].column])
    handles, _ = ax.get_legend_handles_labels()
    if np.isfinite(m):
        ax.axhline(m, color="C0", ls="--", lw=1)
        handles.append(Line2D([], [], color="C0", ls="--", label=f"mean {kinds[0].label} {m:.3f}"))
    handles.append(Line2D([], [], color="k", lw=3, label="all-zero baseline (0)"))
    if any(not r["has_truth"] for r in rows):
        handles.append(Patch(color="white", label="no truth: undefined"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    names = {r["class"]: r["name"] for r in rows}
    ax.set_xticks(x, [class_label(r["class"], names) for r in rows], rotation=35, ha="right")
    ax.set_ylim(0, 1.05)
    split = mean["split"]
    ax.set_ylabel(f"Jaccard on the {split} images")
    ax.set_title(
        f"{split.capitalize()} scores per class against the all-zero baseline\n"
        f"{image_set(mean.get('images'), split)}",
        fontsize=10,
    )
    ax.grid(axis="y", alpha=0.3)
    return fig
