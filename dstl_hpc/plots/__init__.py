"""The report's figures and tables, and quick looks at one image (matplotlib, Agg).

Every figure is written at a fixed size (``figsize`` x ``DPI``, no tight bounding
box), so its pixel size is known in advance: training curves 1000 x 400,
threshold sweeps 640 x 400, the score bar chart 800 x 450, overlays 800 px wide.

* ``training_curves``: per group, loss and validation Jaccard per epoch
  (``models/{variant}/{group}/metrics.csv``).
* ``sweep_curves``: per class, polygon Jaccard against the probability threshold
  (``validation/thresholds/class_{k}.json``), the chosen threshold marked.
* ``score_table`` + ``write_table_csv/html`` + ``score_bars``: the per-class
  validation scores (``validation/scores.json``) with the chosen thresholds,
  against the all-zero baseline.
* ``overlays``: one validation image's RGB with truth and predicted polygons,
  one PNG per class group.
* ``show``: one image's RGB (and false colour NIR), masks and predictions.

Pixel convention as everywhere (``dstl_hpc.raster``): pixel (r, c) covers
``[c, c+1) x [r, r+1)``, so images are drawn with ``extent=(0, W, H, 0)`` and
polygons in pixel coordinates lie on them exactly. Torch is never imported.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import atomic_path, write_text
from dstl_hpc.dataset import CLASS_NAMES, CLASS_TYPES
from dstl_hpc.errors import DstlError

log = logging.getLogger(__name__)

DPI = 100
TRUTH_COLOUR = "#00d8ff"  # cyan
PRED_COLOUR = "#ff2fa8"  # magenta
BOTH_COLOUR = "#ffe14d"  # yellow
OVERLAY_WIDTH_PX = 800
BASELINE_NOTE = (
    "The all-zero predictor (no polygons) scores polygon Jaccard 0 for every class "
    "with truth area on the validation images; for a class without truth area its "
    "union is empty, the score is undefined and the class is left out of the mean "
    "(as for the model when it predicts nothing there)."
)
TABLE_COLUMNS = [
    "class",
    "name",
    "threshold",
    "threshold_source",
    "polygon_jaccard",
    "polygon_jaccard_tuned",
    "pixel_jaccard",
    "baseline_polygon_jaccard",
    "truth_cover_pct",
]


def class_label(k: int) -> str:
    return f"{k} {CLASS_NAMES[int(k)].replace('_', ' ')}"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    plt = _plt()
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", facecolor="white")
    finally:
        plt.close(fig)
    log.info("wrote %s", path)
    return path


def _num(v) -> float:
    """float, NaN for None / '' / unparsable."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _read_json(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DstlError(f"{path}: not valid JSON ({exc})") from None


# ------------------------------------------------------------------ training


def read_metrics(path) -> dict[str, np.ndarray]:
    """Column -> float array (NaN where empty) of a metrics CSV (contracts.md)."""
    path = Path(path)
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        for need in ("epoch", "train_loss"):
            if need not in cols:
                raise DstlError(f"{path}: no column {need!r} (columns: {', '.join(cols)})")
        rows = [{k.strip(): v for k, v in r.items() if k is not None} for r in reader]
    return {c: np.array([_num(r.get(c)) for r in rows], dtype=float) for c in cols}


def _group_variant(path: Path) -> tuple[str, str]:
    """(group, variant) of ``.../{variant}/{group}/metrics.csv``."""
    path = Path(path)
    return path.parent.name, path.parent.parent.name


def training_curves(metrics_paths, out_dir) -> list[Path]:
    """One PNG per group, ``out_dir/training_{group}.png`` (1000 x 400 px).

    Groups and variants are read from the paths (``{variant}/{group}/metrics.csv``).
    Left: train (and validation) loss per epoch for every variant; right: the
    validation pixel Jaccard per class (p > 0.5) and their mean.
    """
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    by_group: dict[str, dict[str, dict]] = {}
    for p in metrics_paths:
        group, variant = _group_variant(p)
        if variant in by_group.setdefault(group, {}):
            raise DstlError(f"{p}: group {group}, variant {variant} given twice")
        by_group[group][variant] = read_metrics(p)
    if not by_group:
        raise DstlError("plots training: no metrics CSV given")
    written = []
    for group, variants in sorted(by_group.items()):
        fig, (ax_l, ax_j) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        styles = {"validation": "-", "all": "--"}
        lr_marked = False
        classes: list[int] = []
        jaccard_variant = None
        for variant, m in sorted(variants.items(), key=lambda kv: kv[0] != "validation"):
            ep = m["epoch"]
            ls = styles.get(variant, ":")
            ax_l.plot(
                ep, m["train_loss"], ls, marker="o", ms=3, color="C0", label=f"{variant}: train"
            )
            if "valid_loss" in m and np.isfinite(m["valid_loss"]).any():
                ax_l.plot(
                    ep,
                    m["valid_loss"],
                    ls,
                    marker="o",
                    ms=3,
                    color="C3",
                    label=f"{variant}: validation",
                )
            if "lr" in m and len(m["lr"]) > 1:
                lr = m["lr"]
                for i in range(1, len(lr)):
                    if np.isfinite(lr[i]) and np.isfinite(lr[i - 1]) and lr[i] != lr[i - 1]:
                        ax_l.axvline(
                            ep[i] - 0.5,
                            color="0.6",
                            lw=0.8,
                            ls=":",
                            label=None if lr_marked else "learning-rate change",
                        )
                        lr_marked = True
            ks = sorted(int(c.split("_", 1)[1]) for c in m if c.startswith("jaccard_"))
            if jaccard_variant is None and any(np.isfinite(m[f"jaccard_{k}"]).any() for k in ks):
                jaccard_variant, classes = variant, ks
            classes = classes or ks
        ax_l.set_xlabel("epoch")
        ax_l.set_ylabel("loss")
        ax_l.set_title("Loss")
        ax_l.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_l.grid(alpha=0.3)
        ax_l.legend(fontsize=8)
        if jaccard_variant is not None:
            m = variants[jaccard_variant]
            for k in classes:
                ax_j.plot(
                    m["epoch"],
                    m[f"jaccard_{k}"],
                    marker="o",
                    ms=3,
                    color=f"C{(k - 1) % 10}",
                    label=class_label(k),
                )
            if "mean_jaccard" in m:
                ax_j.plot(
                    m["epoch"], m["mean_jaccard"], "k--", lw=2, marker="o", ms=3, label="mean"
                )
            ax_j.legend(fontsize=8, loc="best")
            ax_j.set_title(f"Validation Jaccard ({jaccard_variant} variant)")
        else:
            ax_j.text(
                0.5,
                0.5,
                "no validation images\n(variant 'all' trains on every image)",
                ha="center",
                va="center",
                transform=ax_j.transAxes,
                color="0.4",
            )
            ax_j.set_title("Validation Jaccard")
        ax_j.set_ylim(0, 1)
        ax_j.set_xlabel("epoch")
        ax_j.set_ylabel("pixel Jaccard (p > 0.5)")
        ax_j.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_j.grid(alpha=0.3)
        names = ", ".join(class_label(k) for k in classes)
        fig.suptitle(f"Training curves - group {group}" + (f" ({names})" if names else ""))
        written.append(_save(fig, Path(out_dir) / f"training_{group}.png"))
    return written


# ------------------------------------------------------------------- sweeps


def read_sweep(path) -> dict:
    d = _read_json(path)
    for key in ("class", "threshold"):
        if key not in d:
            raise DstlError(f"{path}: no key {key!r} (threshold sweep JSON, see contracts.md)")
    if len(d.get("thresholds", [])) != len(d.get("scores", [])):
        raise DstlError(f"{path}: 'thresholds' and 'scores' differ in length")
    return d


def sweep_curves(sweep_paths, out_dir) -> list[Path]:
    """One PNG per class, ``out_dir/threshold_class_{k}.png`` (640 x 400 px)."""
    plt = _plt()
    written = []
    if not sweep_paths:
        raise DstlError("plots sweeps: no sweep JSON given")
    for p in sweep_paths:
        d = read_sweep(p)
        k = int(d["class"])
        t = np.array([_num(x) for x in d.get("thresholds", [])])
        s = np.array([_num(x) for x in d.get("scores", [])])
        chosen = _num(d["threshold"])
        fig, ax = plt.subplots(figsize=(6.4, 4), constrained_layout=True)
        if len(t) and np.isfinite(s).any():
            ax.plot(t, s, marker="o", ms=4, color=f"C{(k - 1) % 10}", label="polygon Jaccard")
        else:
            ax.text(
                0.5,
                0.5,
                "no truth area and no predicted area\nat any threshold",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="0.4",
            )
        if len(t) and not np.isfinite(s).all() and np.isfinite(s).any():
            undefined = t[~np.isfinite(s)]
            ax.plot(
                undefined,
                np.zeros_like(undefined),
                "x",
                color="0.5",
                label="undefined (empty union)",
            )
        if np.isfinite(chosen):
            at = s[np.argmin(np.abs(t - chosen))] if len(t) else math.nan
            how = "fixed" if d.get("fixed") else "chosen"
            txt = f"{how}: {chosen:g}" + (f" (J = {at:.3f})" if np.isfinite(at) else "")
            ax.axvline(chosen, color="k", ls="--", lw=1, label=txt)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("probability threshold")
        ax.set_ylabel("polygon Jaccard (validation)")
        extra = []
        if d.get("epsilon") is not None:
            extra.append(f"epsilon {d['epsilon']:g} px")
        if d.get("min_area") is not None:
            extra.append(f"min area {d['min_area']:g} px\u00b2")
        ax.set_title(
            f"Threshold sweep - class {class_label(k)}"
            + (f"\n({', '.join(extra)})" if extra else ""),
            fontsize=11,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        written.append(_save(fig, Path(out_dir) / f"threshold_class_{k}.png"))
    return written


# -------------------------------------------------------------------- table


def _truth_areas(truth_csv, images, grid_sizes=None) -> tuple[dict, float | None]:
    """(ClassType -> truth area summed over ``images`` (grid units), total image area)."""
    from dstl_hpc.dataset import parse_wkt, read_grid_sizes, read_wkt_csv

    truth = read_wkt_csv(truth_csv)
    areas = {k: 0.0 for k in CLASS_TYPES}
    for i in images:
        for k, wkt in truth.get(i, {}).items():
            if "EMPTY" in wkt[:40].upper():
                continue
            areas[k] += float(parse_wkt(wkt, f"{truth_csv}, image {i}, class {k}").area)
    total = None
    if grid_sizes is not None:
        grids = read_grid_sizes(grid_sizes)
        missing = [i for i in images if i not in grids]
        if missing:
            raise DstlError(f"{grid_sizes}: no grid size for {', '.join(missing)}")
        total = sum(abs(grids[i][0] * grids[i][1]) for i in images)
    return areas, total


def score_table(
    scores_json, sweep_paths=(), truth_csv=None, grid_sizes=None, fixed=None
) -> tuple[list[dict], dict]:
    """(rows for ClassTypes 1..10, mean row) of the validation table.

    ``fixed``: ClassType -> threshold set in the configuration (no sweep file).
    ``truth_csv`` decides which classes have truth area (the baseline's 0 vs undefined).
    """
    scores = _read_json(scores_json)
    for key in ("per_class", "mean"):
        if key not in scores:
            raise DstlError(f"{scores_json}: no key {key!r} (scores JSON, see contracts.md)")
    sweeps = {}
    for p in sweep_paths:
        d = read_sweep(p)
        sweeps[int(d["class"])] = d
    fixed = {int(k): float(v) for k, v in (fixed or {}).items()}
    images = list(scores.get("images", []))
    areas, total = (None, None)
    if truth_csv is not None:
        areas, total = _truth_areas(truth_csv, images, grid_sizes)
    pixel = scores.get("pixel_per_class") or {}
    # held-out scores (per_class) and the tuned, in-sample ones, when the sweeps were given
    tuned = scores.get("per_class_tuned") or {}
    rows = []
    for k in CLASS_TYPES:
        if k in fixed:
            thr, src = fixed[k], "fixed"
        elif k in sweeps:
            thr = _num(sweeps[k]["threshold"])
            src = "fixed" if sweeps[k].get("fixed") else "swept"
        else:
            thr, src = math.nan, "-"
        if areas is None:
            has_truth = scores["per_class"].get(str(k)) is not None
            baseline = 0.0 if has_truth else None  # best guess without the truth
        else:
            has_truth = areas[k] > 0
            baseline = 0.0 if has_truth else None
        cover = None
        if areas is not None and total:
            cover = 100.0 * areas[k] / total
        rows.append(
            {
                "class": k,
                "name": CLASS_NAMES[k],
                "threshold": None if math.isnan(thr) else thr,
                "threshold_source": src,
                "polygon_jaccard": scores["per_class"].get(str(k)),
                "polygon_jaccard_tuned": tuned.get(str(k)),
                "pixel_jaccard": pixel.get(str(k)),
                "baseline_polygon_jaccard": baseline,
                "truth_cover_pct": cover,
                "has_truth": has_truth,
            }
        )
    base_defined = [r["baseline_polygon_jaccard"] for r in rows if r["has_truth"]]
    mean = {
        "class": "mean",
        "name": "",
        "threshold": None,
        "threshold_source": "",
        "polygon_jaccard": scores.get("mean"),
        "polygon_jaccard_tuned": scores.get("mean_tuned"),
        "pixel_jaccard": scores.get("pixel_mean"),
        "baseline_polygon_jaccard": 0.0 if base_defined else None,
        "truth_cover_pct": None,
        "images": images,
    }
    return rows, mean


def _cell(v, spec=".4f") -> str:
    return "" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def baseline_note(row: dict) -> str:
    if row.get("class") == "mean":
        return "all-zero predictor: mean over the classes with truth area"
    if row.get("has_truth"):
        return "all-zero predictor: 0 (truth area present)"
    return "all-zero predictor: undefined (no truth area; class left out of the mean)"


def write_table_csv(path, rows, mean) -> None:
    """The table as CSV: TABLE_COLUMNS and ``baseline_note``; empty cells are undefined."""
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*TABLE_COLUMNS, "baseline_note"])
    for r in [*rows, mean]:
        vals = []
        for c in TABLE_COLUMNS:
            spec = "g" if c == "threshold" else ".3f" if c == "truth_cover_pct" else ".6f"
            vals.append(_cell(r.get(c), spec))
        writer.writerow([*vals, baseline_note(r)])
    write_text(path, buf.getvalue())


def write_table_html(path, rows, mean) -> None:
    """A self-contained HTML page with the table (the report shows it in a frame)."""

    def td(v, spec=".4f", cls="num"):
        text = "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)
        return f'<td class="{cls}">{html.escape(text)}</td>'

    has_cover = any(r["truth_cover_pct"] is not None for r in rows)
    has_tuned = mean.get("polygon_jaccard_tuned") is not None
    head = [
        "ClassType",
        "name",
        "threshold",
        "polygon Jaccard<br>(held out)" if has_tuned else "polygon Jaccard",
        *(["polygon Jaccard<br>(tuned on the same images)"] if has_tuned else []),
        "pixel Jaccard",
        "all-zero baseline<br>(polygon Jaccard)",
    ] + (["truth cover %"] if has_cover else [])
    body = []
    for r in rows:
        base = r["baseline_polygon_jaccard"]
        base_cell = td(base) if base is not None else '<td class="num na">undefined (no truth)</td>'
        thr = r["threshold"]
        thr_text = "-" if thr is None else f"{thr:g} ({r['threshold_source']})"
        cells = [
            td(r["class"], cls="num"),
            td(r["name"].replace("_", " "), cls="txt"),
            f'<td class="num">{html.escape(thr_text)}</td>',
            td(r["polygon_jaccard"]),
            *([td(r["polygon_jaccard_tuned"])] if has_tuned else []),
            td(r["pixel_jaccard"]),
            base_cell,
        ]
        if has_cover:
            cells.append(td(r["truth_cover_pct"], ".3f"))
        body.append("<tr>" + "".join(cells) + "</tr>")
    mean_cells = [
        '<td class="txt" colspan="3"><b>mean over classes</b></td>',
        td(mean["polygon_jaccard"]),
        *([td(mean["polygon_jaccard_tuned"])] if has_tuned else []),
        td(mean["pixel_jaccard"]),
        td(mean["baseline_polygon_jaccard"]),
    ] + (["<td></td>"] if has_cover else [])
    body.append('<tr class="mean">' + "".join(mean_cells) + "</tr>")
    images = mean.get("images") or []
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Validation scores</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; }}
th {{ background: #f0f0f0; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.na {{ color: #888; }}
tr.mean td {{ border-top: 2px solid #444; }}
p.note {{ max-width: 50em; color: #333; }}
</style></head><body>
<h3>Validation scores per class</h3>
<p>Competition metric (Jaccard summed over the {len(images)} validation image(s):
{html.escape(", ".join(images))}); polygon Jaccard on the submitted polygons,
pixel Jaccard on their rasterisation; threshold: probability threshold of the class
(swept on validation or fixed in the configuration). A score of - is undefined:
no truth and no predicted area on these images.</p>
<table>
<tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{chr(10).join(body)}
</table>
<p class="note">{html.escape(BASELINE_NOTE)}</p>
</body></html>
"""
    write_text(path, page)


def score_bars(path, rows, mean) -> Path:
    """Bar chart of the table (800 x 450 px): polygon and pixel Jaccard vs the baseline."""
    plt = _plt()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    x = np.arange(len(rows))
    w = 0.38
    poly = np.array([_num(r["polygon_jaccard"]) for r in rows])
    pix = np.array([_num(r["pixel_jaccard"]) for r in rows])
    ax.bar(x - w / 2, np.nan_to_num(poly), w, color="C0", label="polygon Jaccard")
    ax.bar(x + w / 2, np.nan_to_num(pix), w, color="C1", label="pixel Jaccard")
    for i, r in enumerate(rows):
        if r["has_truth"]:
            ax.hlines(0, i - 0.45, i + 0.45, color="k", lw=3)
        if np.isnan(poly[i]) and not r["has_truth"]:
            ax.text(
                i, 0.02, "no truth", ha="center", va="bottom", rotation=90, fontsize=8, color="0.4"
            )
        elif np.isfinite(poly[i]):
            ax.text(
                i - w / 2, poly[i] + 0.01, f"{poly[i]:.2f}", ha="center", va="bottom", fontsize=7
            )
    m = _num(mean["polygon_jaccard"])
    handles, _ = ax.get_legend_handles_labels()
    if np.isfinite(m):
        ax.axhline(m, color="C0", ls="--", lw=1)
        handles.append(Line2D([], [], color="C0", ls="--", label=f"mean polygon Jaccard {m:.3f}"))
    handles.append(Line2D([], [], color="k", lw=3, label="all-zero baseline (0)"))
    if any(not r["has_truth"] for r in rows):
        handles.append(Patch(color="white", label="no truth: undefined"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.set_xticks(x, [class_label(r["class"]) for r in rows], rotation=35, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Jaccard (validation)")
    ax.set_title("Validation score per class against the all-zero baseline")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


# ------------------------------------------------------------------- images


def _stride(h: int, w: int, max_px: int) -> int:
    return max(1, int(max(h, w) // max(1, max_px)))


def _read_planes(path, dataset: str, planes, stride: int) -> np.ndarray:
    from dstl_hpc.stacks import open_h5

    with open_h5(path, dataset) as h5:
        ds = h5[dataset]
        return np.stack([ds[int(p), ::stride, ::stride] for p in planes])


def _shape(path, dataset: str) -> tuple[int, ...]:
    from dstl_hpc.stacks import open_h5

    with open_h5(path, dataset) as h5:
        return tuple(h5[dataset].shape)


def stretch(img: np.ndarray, lo: float = 2.0, hi: float = 98.0) -> np.ndarray:
    """(C, H, W) -> (H, W, C) float in [0, 1], each channel percentile-stretched."""
    out = np.empty(img.shape[1:] + (img.shape[0],), np.float32)
    for c in range(img.shape[0]):
        ch = img[c].astype(np.float32)
        a, b = np.percentile(ch, [lo, hi]) if ch.size else (0.0, 1.0)
        if b <= a:
            b = a + 1.0
        out[..., c] = np.clip((ch - a) / (b - a), 0.0, 1.0)
    return out


def _geom_path(geom):
    """A matplotlib Path of a (Multi)Polygon with holes (exteriors CCW, holes CW)."""
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        poly = orient(poly, 1.0)
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 3:
                continue
            verts.append(xy)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _draw_geom(ax, geom, colour: str, fill_alpha: float, lw: float, z: int) -> None:
    from matplotlib.patches import PathPatch

    path = _geom_path(geom)
    if path is None:
        return
    if fill_alpha > 0:
        ax.add_patch(PathPatch(path, facecolor=colour, alpha=fill_alpha, lw=0, zorder=z))
    ax.add_patch(PathPatch(path, facecolor="none", edgecolor=colour, lw=lw, zorder=z + 1))


def _image_axes(ax, img, w: int, h: int) -> None:
    ax.imshow(img, extent=(0, w, h, 0), interpolation="antialiased")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def overlays(
    stack,
    truth_csv,
    grid_sizes,
    polygon_csvs,
    groups: dict[str, list[int]],
    out_dir,
    image_id: str | None = None,
    width_px: int = OVERLAY_WIDTH_PX,
) -> list[Path]:
    """``out_dir/{image}_{group}.png`` per group: RGB with truth and predicted polygons.

    Truth polygons are filled cyan, predicted polygons outlined magenta (on top).

    One panel per class of the group (two columns), ``width_px`` wide. Truth comes
    from ``truth_csv`` (grid coordinates, scaled with ``grid_sizes``), predictions
    from the per-class polygon CSVs (a later file overrides an earlier one).
    """
    plt = _plt()
    from matplotlib.patches import Patch

    from dstl_hpc.dataset import grid_to_pixels, read_grid_sizes, read_wkt_csv
    from dstl_hpc.metrics import jaccard_areas, safe_parse
    from dstl_hpc.polygons import polygonal, read_rows
    from dstl_hpc.stacks import stack_info

    info = stack_info(stack)
    image_id = image_id or info["image_id"]
    if not image_id:
        raise DstlError(f"{stack}: no image_id attribute; pass --image")
    _, h, w = info["shape"]
    grids = read_grid_sizes(grid_sizes)
    if image_id not in grids:
        raise DstlError(f"{grid_sizes}: image {image_id} is missing")
    xmax, ymin = grids[image_id]
    truth_rows = read_wkt_csv(truth_csv)
    if image_id not in truth_rows:
        raise DstlError(f"{truth_csv}: no polygons for image {image_id}")
    truth = truth_rows[image_id]
    preds: dict[int, tuple[str, str]] = {}
    for p in polygon_csvs:
        for i, k, wkt in read_rows(p):
            if i == image_id:
                preds[k] = (wkt, f"{p}, image {image_id}, class {k}")
    s = _stride(h, w, width_px)
    rgb = stretch(_read_planes(stack, "image", [0, 1, 2], s))
    image_area = abs(xmax * ymin)
    written = []
    for group, classes in groups.items():
        classes = [int(k) for k in classes]
        if not classes:
            raise DstlError(f"overlay group {group}: no classes")
        ncols = min(2, len(classes))
        nrows = math.ceil(len(classes) / ncols)
        fig_w = width_px / DPI
        panel_h = fig_w / ncols * h / w
        fig = plt.figure(figsize=(fig_w, nrows * panel_h + 0.45 + 0.3 * nrows))
        fig.set_layout_engine("constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(classes) :]:
            ax.set_axis_off()
        for ax, k in zip(axes.flat, classes, strict=False):
            where = f"{truth_csv}, image {image_id}, class {k}"
            t = safe_parse(truth[k], where) if k in truth else polygonal(None)
            p = safe_parse(*preds[k]) if k in preds else polygonal(None)
            inter, union = jaccard_areas(t, p)
            _image_axes(ax, rgb, w, h)
            _draw_geom(ax, grid_to_pixels(t, w, h, xmax, ymin), TRUTH_COLOUR, 0.45, 0.8, 3)
            _draw_geom(ax, grid_to_pixels(p, w, h, xmax, ymin), PRED_COLOUR, 0.0, 1.4, 5)
            score = f"J = {inter / union:.3f}" if union > 0 else "no truth, no prediction"
            cover = f"truth {100 * t.area / image_area:.1f}%, pred {100 * p.area / image_area:.1f}%"
            note = "" if k in preds else ", no prediction row"
            ax.set_title(f"{class_label(k)}: {score}\n{cover}{note}", fontsize=9)
        handles = [
            Patch(facecolor=TRUTH_COLOUR, edgecolor=TRUTH_COLOUR, alpha=0.7, label="truth"),
            Patch(facecolor="none", edgecolor=PRED_COLOUR, lw=1.4, label="prediction"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
        fig.suptitle(f"{image_id} - group {group}", fontsize=11)
        written.append(_save(fig, Path(out_dir) / f"{image_id}_{group}.png"))
    return written


def show(
    stack,
    out,
    mask=None,
    predictions=(),
    classes=None,
    threshold: float = 0.5,
    false_colour: bool = False,
    width_px: int = 1200,
) -> Path:
    """One image's RGB (and false colour NIR), and per class truth vs prediction, as one PNG.

    Class panels show the dimmed RGB with pixels coloured: truth (cyan), prediction
    >= ``threshold`` (magenta), both (yellow).
    """
    plt = _plt()
    from matplotlib.patches import Patch

    from dstl_hpc.stacks import open_h5, stack_info

    if not 0.0 <= threshold <= 1.0:
        raise DstlError(f"--threshold {threshold}: expected a probability in [0, 1]")
    info = stack_info(stack)
    c_all, h, w = info["shape"]
    ncols = 4
    s = _stride(h, w, width_px // ncols * 2)
    rgb = stretch(_read_planes(stack, "image", [0, 1, 2], s))
    panels: list[tuple[str, np.ndarray, list]] = [("RGB", rgb, [])]
    if false_colour:
        names = info["channels"]
        try:
            idx = [names.index(n) for n in ("M7", "M5", "M3")]  # NIR1, red, green
        except ValueError:
            raise DstlError(f"{stack}: no M channels for a false colour image") from None
        if max(idx) >= c_all:
            raise DstlError(f"{stack}: has {c_all} channels, no M channels for false colour")
        panels.append(
            (
                "false colour (M7 NIR, M5 red, M3 green)",
                stretch(_read_planes(stack, "image", idx, s)),
                [],
            )
        )

    # ClassType -> (path, plane) of the predictions; masks: planes k-1.
    pred_of: dict[int, tuple[str, int, float]] = {}
    for p in predictions:
        with open_h5(p, "prob") as h5:
            pshape = h5["prob"].shape
            pcls = [int(c) for c in h5.attrs.get("classes", [])]
            scale = float(h5.attrs.get("scale", 255))
        if pshape[1:] != (h, w):
            raise DstlError(f"{p}: prediction of size {pshape[1:]}, stack is {(h, w)}")
        for plane, k in enumerate(pcls):
            pred_of[k] = (str(p), plane, scale)
    if mask is not None:
        mshape = _shape(mask, "mask")
        if mshape[1:] != (h, w):
            raise DstlError(f"{mask}: mask of size {mshape[1:]}, stack is {(h, w)}")
    if classes is None:
        if pred_of:
            classes = sorted(pred_of)
        elif mask is not None:
            m_all = _read_planes(mask, "mask", range(len(CLASS_TYPES)), s)
            classes = [k for k in CLASS_TYPES if m_all[k - 1].any()]
        else:
            classes = []
    for k in classes:
        if k not in CLASS_TYPES:
            raise DstlError(f"--classes: {k} is not a ClassType in 1..10")
    grey = rgb.mean(axis=2, keepdims=True) * 0.6
    for k in classes:
        truth = _read_planes(mask, "mask", [k - 1], s)[0] > 0 if mask is not None else None
        pred = None
        if k in pred_of:
            path, plane, scale = pred_of[k]
            prob = _read_planes(path, "prob", [plane], s)[0].astype(np.float32) / scale
            pred = prob >= threshold
        img = np.repeat(grey, 3, axis=2)
        title = class_label(k)
        legend = []
        pred_label = f"prediction >= {threshold:g}"
        if truth is not None and pred is not None:
            cats = [
                (truth & ~pred, TRUTH_COLOUR, "truth"),
                (~truth & pred, PRED_COLOUR, pred_label),
                (truth & pred, BOTH_COLOUR, "both"),
            ]
            union = int((truth | pred).sum())
            title += f": pixel J = {(truth & pred).sum() / union:.3f}" if union else ": no pixels"
        elif truth is not None:
            cats = [(truth, TRUTH_COLOUR, "truth")]
            title += " (no prediction)" if pred_of else ""
        elif pred is not None:
            cats = [(pred, PRED_COLOUR, pred_label)]
            title += " (no mask)" if mask is not None else ""
        else:
            cats = []
            title += " (no mask, no prediction)"
        for sel, colour, label in cats:
            img[sel] = _rgb_of(colour)
            legend.append((colour, label))
        panels.append((title, img, legend))

    nrows = math.ceil(len(panels) / ncols)
    fig_w = width_px / DPI
    panel_w = fig_w / ncols
    fig = plt.figure(figsize=(fig_w, nrows * (panel_w * h / w + 0.4) + 0.6))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    for ax, (title, img, _) in zip(axes.flat, panels, strict=False):
        _image_axes(ax, img, w, h)
        ax.set_title(title, fontsize=9)
    seen = {}
    for _, _, legend in panels:
        for colour, label in legend:
            seen.setdefault(label, colour)
    if seen:
        fig.legend(
            handles=[Patch(color=c, label=lab) for lab, c in seen.items()],
            loc="outside lower center",
            ncols=len(seen),
            fontsize=9,
            frameon=False,
        )
    name = info["image_id"] or Path(stack).stem
    fig.suptitle(f"{name} ({h} x {w} px)" + (f", threshold {threshold:g}" if pred_of else ""))
    return _save(fig, out)


def _rgb_of(colour: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(colour), np.float32)
