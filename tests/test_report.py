"""The report: `dstl-hpc plots/show/summary` on small fake inputs, the report rules
(dry run, lint) and, slow, `snakemake --report report.zip` after a tiny run."""

import csv
import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from dstl_hpc.cli import main
from dstl_hpc.polygons import to_wkt, write_rows
from dstl_hpc.prepare.stacks import write_mask, write_prediction, write_stack
from dstl_hpc.sources.dstl import CLASS_NAMES, pixels_to_grid

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "6010_1_2"
H, W = 120, 160
XMAX, YMIN = 0.009, -0.0068


def png_size(path):
    """(height, width) of a PNG, read back as an image."""
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img.shape[:2]


def has_colour(path, rgb, tol=0.12):
    import matplotlib.image

    img = matplotlib.image.imread(str(path))[..., :3]
    return bool((np.abs(img - np.asarray(rgb)).max(axis=2) < tol).any())


def box(x0, y0, x1, y1):
    from shapely.geometry import MultiPolygon, box

    return MultiPolygon([box(x0, y0, x1, y1)])


def grid(geom):
    return pixels_to_grid(geom, W, H, XMAX, YMIN)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """A small fake results tree: stack, mask, prediction, polygons, scores, sweeps, metrics."""
    from shapely.geometry import MultiPolygon, Polygon

    d = tmp_path_factory.mktemp("fake")
    rng = np.random.default_rng(0)
    # Stack: a smooth gradient plus noise in every channel, a bright "building".
    yy, xx = np.mgrid[0:H, 0:W]
    base = 2000 + 10 * xx + 5 * yy
    image = np.stack([base + 300 * c + rng.integers(0, 200, (H, W)) for c in range(20)])
    image[:, 20:50, 30:70] += 3000
    write_stack(d / "stack.h5", image.astype(np.uint16), IMAGE, {})
    # Truth: buildings (a box), trees (a box with a hole); prediction: a shifted box.
    truth = {
        1: box(30, 20, 70, 50),
        5: MultiPolygon(
            [
                Polygon(
                    [(90, 60), (150, 60), (150, 110), (90, 110)],
                    [[(110, 75), (130, 75), (130, 95), (110, 95)]],
                )
            ]
        ),
    }
    pred = {1: box(35, 22, 75, 52), 2: box(5, 100, 15, 110)}
    (d / "grid_sizes.csv").write_text(f",Xmax,Ymin\n{IMAGE},{XMAX},{YMIN}\n")
    write_rows(
        d / "train_wkt_v4.csv",
        [
            (IMAGE, k, to_wkt(grid(truth[k])) if k in truth else "MULTIPOLYGON EMPTY")
            for k in range(1, 11)
        ],
    )
    pieces = []
    for k in range(1, 11):
        p = d / f"polygons/class_{k}.csv"
        write_rows(p, [(IMAGE, k, to_wkt(grid(pred[k])) if k in pred else "MULTIPOLYGON EMPTY")])
        pieces.append(p)
    # Mask and prediction planes.
    from dstl_hpc.prepare.raster import rasterize

    mask = np.zeros((10, H, W), np.uint8)
    for k, g in truth.items():
        mask[k - 1] = rasterize(g, (H, W))
    write_mask(d / "mask.h5", mask, IMAGE, {})
    prob = np.zeros((2, H, W), np.uint8)
    prob[0] = rasterize(pred[1], (H, W)) * 230
    prob[1] = rasterize(pred[2], (H, W)) * 200
    write_prediction(d / "pred_built.h5", prob, IMAGE, [1, 2])
    # Metrics: group "built" (validation + all variants), group "water" (validation only).
    for variant, group, classes in [
        ("validation", "built", [1, 2]),
        ("all", "built", [1, 2]),
        ("validation", "water", [7, 8]),
    ]:
        p = d / f"models/{variant}/{group}/metrics.csv"
        p.parent.mkdir(parents=True)
        cols = ["epoch", "lr", "train_loss", "valid_loss", "seconds"]
        cols += [f"jaccard_{k}" for k in classes] + ["mean_jaccard"]
        lines = [",".join(cols)]
        for e in range(1, 7):
            lr = 0.003 if e < 5 else 0.0006
            valid = variant == "validation"
            js = [min(0.9, 0.1 * e + 0.05 * i) for i in range(len(classes))]
            vals = [e, lr, 1.0 / e, 1.2 / e if valid else "", 3.5]
            vals += [f"{j:.4f}" if valid else "" for j in js]
            vals += [f"{np.mean(js):.4f}" if valid else ""]
            lines.append(",".join(str(v) for v in vals))
        p.write_text("\n".join(lines) + "\n")
    # Threshold sweeps: class 1 normal, class 2 partly undefined, class 8 never defined.
    thr = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    sweeps = {
        1: ([0.2, 0.35, 0.5, 0.61, 0.58, 0.5, 0.3, 0.1], 0.4),
        2: ([0.0, 0.0, 0.0, None, None, None, None, None], 0.5),
        8: ([None] * 8, 0.5),
    }
    for k, (scores, chosen) in sweeps.items():
        p = d / f"thresholds/class_{k}.json"
        p.parent.mkdir(exist_ok=True)
        p.write_text(
            json.dumps(
                {
                    "class": k,
                    "threshold": chosen,
                    "thresholds": thr,
                    "scores": scores,
                    "epsilon": 2.0,
                    "min_area": 50.0,
                }
            )
        )
    scores = {
        "per_class": {str(k): None for k in range(1, 11)},
        "pixel_per_class": {str(k): None for k in range(1, 11)},
        "images": [IMAGE],
    }
    scores["per_class"].update({"1": 0.6123, "2": 0.0, "5": 0.0})
    scores["pixel_per_class"].update({"1": 0.6311, "2": 0.0, "5": 0.0})
    scores["mean"] = (0.6123 + 0 + 0) / 3
    scores["pixel_mean"] = (0.6311 + 0 + 0) / 3
    (d / "scores.json").write_text(json.dumps(scores))
    return d


def run_cli(*args):
    return main([str(a) for a in args])


# ------------------------------------------------------------------- plots


def test_training_curves_one_png_per_group(fake, tmp_path, capsys):
    metrics = sorted(fake.glob("models/*/*/metrics.csv"))
    assert run_cli("plots", "training", *metrics, "--out-dir", tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "training_built.png",
        "training_water.png",
    ]
    for p in tmp_path.iterdir():
        assert png_size(p) == (400, 1000)
    assert "training_built.png" in capsys.readouterr().out


def test_training_curves_of_the_all_variant_alone(fake, tmp_path):
    assert (
        run_cli("plots", "training", fake / "models/all/built/metrics.csv", "--out-dir", tmp_path)
        == 0
    )
    assert png_size(tmp_path / "training_built.png") == (400, 1000)


def test_training_curves_bad_csv_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "validation/g/metrics.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("foo,bar\n1,2\n")
    assert run_cli("plots", "training", bad, "--out-dir", tmp_path) == 2
    assert "no column 'epoch'" in capsys.readouterr().err


def test_sweep_curves_one_png_per_class(fake, tmp_path):
    sweeps = sorted(fake.glob("thresholds/class_*.json"))
    assert run_cli("plots", "sweeps", *sweeps, "--out-dir", tmp_path) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["threshold_class_1.png", "threshold_class_2.png", "threshold_class_8.png"]
    for p in tmp_path.iterdir():
        assert png_size(p) == (400, 640)


def test_table_has_ten_classes_and_the_baseline(fake, tmp_path):
    out = tmp_path / "t"
    sweeps = sorted(fake.glob("thresholds/class_*.json"))
    rc = run_cli(
        "plots",
        "table",
        fake / "scores.json",
        "--sweeps",
        *sweeps,
        "--truth",
        fake / "train_wkt_v4.csv",
        "--grid-sizes",
        fake / "grid_sizes.csv",
        "--fixed-threshold",
        "3=0.35",
        "--csv",
        out / "scores.csv",
        "--html",
        out / "scores.html",
        "--png",
        out / "scores.png",
    )
    assert rc == 0
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["class"] for r in rows] == [str(k) for k in range(1, 11)] + ["mean"]
    by = {r["class"]: r for r in rows}
    assert by["1"]["name"] == "buildings"
    # no tuned scores in the file, swept classes: the columns say "as scored"
    assert float(by["1"]["polygon_jaccard_as_scored"]) == pytest.approx(0.6123)
    assert float(by["1"]["pixel_jaccard_as_scored"]) == pytest.approx(0.6311)
    assert float(by["1"]["threshold"]) == 0.4 and by["1"]["threshold_source"] == "swept"
    assert float(by["3"]["threshold"]) == 0.35 and by["3"]["threshold_source"] == "fixed"
    # The all-zero baseline: 0 where there is truth area (classes 1 and 5), else undefined.
    assert by["1"]["baseline_polygon_jaccard"] == "0.000000"
    assert by["5"]["baseline_polygon_jaccard"] == "0.000000"
    assert all(by[str(k)]["baseline_polygon_jaccard"] == "" for k in (2, 3, 4, 6, 7, 8, 9, 10))
    assert by["mean"]["baseline_polygon_jaccard"] == "0.000000"
    assert "0 (truth area present)" in by["1"]["baseline_note"]
    assert "undefined (no truth area" in by["2"]["baseline_note"]
    assert float(by["mean"]["polygon_jaccard_as_scored"]) == pytest.approx(0.6123 / 3)
    assert float(by["1"]["truth_cover_pct"]) > 0 and float(by["2"]["truth_cover_pct"]) == 0
    page = (out / "scores.html").read_text()
    assert page.count("<tr") == 12  # header, ten classes and the mean
    assert "mean over classes" in page
    assert "all-zero predictor" in page and "undefined (no truth)" in page
    for k in range(1, 11):
        assert CLASS_NAMES[k].replace("_", " ") in page
    assert png_size(out / "scores.png") == (450, 800)


def test_table_needs_an_output(fake, capsys):
    assert run_cli("plots", "table", fake / "scores.json") == 2
    assert "--csv" in capsys.readouterr().err


def test_overlays_one_png_per_group_800_wide(fake, tmp_path):
    from dstl_hpc.plots import PRED_COLOUR, TRUTH_COLOUR

    pieces = sorted(fake.glob("polygons/class_*.csv"))
    rc = run_cli(
        "plots",
        "overlay",
        fake / "stack.h5",
        "--truth",
        fake / "train_wkt_v4.csv",
        "--grid-sizes",
        fake / "grid_sizes.csv",
        "--polygons",
        *pieces,
        "--group",
        "built=1,2",
        "ground=3,4,5,6",
        "vehicles=10",
        "--out-dir",
        tmp_path,
    )
    assert rc == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{IMAGE}_built.png", f"{IMAGE}_ground.png", f"{IMAGE}_vehicles.png"]
    for p in tmp_path.iterdir():
        h, w = png_size(p)
        assert w == 800 and 200 < h < 1400
    from matplotlib.colors import to_rgb

    built = tmp_path / f"{IMAGE}_built.png"
    assert has_colour(built, to_rgb(TRUTH_COLOUR)) and has_colour(built, to_rgb(PRED_COLOUR))


def test_overlay_of_an_unknown_image_is_an_error(fake, tmp_path, capsys):
    rc = run_cli(
        "plots",
        "overlay",
        fake / "stack.h5",
        "--truth",
        fake / "train_wkt_v4.csv",
        "--grid-sizes",
        fake / "grid_sizes.csv",
        "--polygons",
        fake / "polygons/class_1.csv",
        "--group",
        "built=1",
        "--out-dir",
        tmp_path,
        "--image",
        "6999_0_0",
    )
    assert rc == 2
    assert "6999_0_0" in capsys.readouterr().err


# -------------------------------------------------------------------- show


def test_show_stack_mask_prediction(fake, tmp_path):
    out = tmp_path / "look.png"
    rc = run_cli(
        "show",
        fake / "stack.h5",
        out,
        "--mask",
        fake / "mask.h5",
        "--prediction",
        fake / "pred_built.h5",
        "--false-colour",
    )
    assert rc == 0
    h, w = png_size(out)
    assert w == 1200 and h > 200
    from matplotlib.colors import to_rgb

    from dstl_hpc.plots import BOTH_COLOUR, PRED_COLOUR, TRUTH_COLOUR

    for colour in (TRUTH_COLOUR, PRED_COLOUR, BOTH_COLOUR):
        assert has_colour(out, to_rgb(colour)), colour


def test_show_stack_only_and_chosen_classes(fake, tmp_path):
    assert run_cli("show", fake / "stack.h5", tmp_path / "a.png", "--width", "600") == 0
    assert png_size(tmp_path / "a.png")[1] == 600
    rc = run_cli(
        "show",
        fake / "stack.h5",
        tmp_path / "b.png",
        "--mask",
        fake / "mask.h5",
        "--classes",
        "1",
        "5",
        "9",
        "--threshold",
        "0.3",
    )
    assert rc == 0 and png_size(tmp_path / "b.png")[1] == 1200


def test_show_rejects_a_bad_threshold(fake, tmp_path, capsys):
    assert run_cli("show", fake / "stack.h5", tmp_path / "a.png", "--threshold", "2") == 2
    assert "--threshold" in capsys.readouterr().err


# ----------------------------------------------------------------- summary


def make_results(fake, root):
    (root / "validation/thresholds").mkdir(parents=True)
    (root / "validation/scores.json").write_text((fake / "scores.json").read_text())
    for p in fake.glob("thresholds/class_*.json"):
        (root / "validation/thresholds" / p.name).write_text(p.read_text())
    with gzip.open(root / "submission.csv.gz", "wt") as fh:
        fh.write("ImageId,ClassType,MultipolygonWKT\n")
        for i in range(3):
            for k in range(1, 11):
                fh.write(f"6120_2_{i},{k},MULTIPOLYGON EMPTY\n")
    return root


def test_summary_prints_scores_and_submission(fake, tmp_path, capsys):
    res = make_results(fake, tmp_path / "results")
    assert run_cli("summary", res) == 0
    out = capsys.readouterr().out
    assert "mean polygon Jaccard 0.2041" in out
    assert "mean pixel Jaccard 0.2104" in out
    line1 = next(line for line in out.splitlines() if " buildings " in line)
    assert "0.6123" in line1 and "0.6311" in line1 and "0.4 (swept)" in line1
    assert "submission.csv.gz (30 rows" in out
    assert "missing" not in out


def test_summary_score_and_plots_take_the_class_names_of_classes_json(fake, tmp_path, capsys):
    from dstl_hpc.sources.base import ClassInfo, classes_json

    res = make_results(fake, tmp_path / "results")
    named = [ClassInfo(k, f"kind{k}") for k in range(1, 11)]
    (res / "classes.json").write_text(classes_json(named))
    assert run_cli("summary", res) == 0
    out = capsys.readouterr().out
    line1 = next(line for line in out.splitlines() if " kind1 " in line)
    assert "0.6123" in line1 and " buildings " not in out
    # score: per_class has the classes of classes.json, the table their names
    two = tmp_path / "two.json"
    two.write_text(classes_json([ClassInfo(1, "house"), ClassInfo(2, "shed")]))
    polygons = [fake / "polygons/class_1.csv", fake / "polygons/class_2.csv"]
    scores = tmp_path / "s.json"
    args = ["score", fake / "train_wkt_v4.csv", *polygons, "--classes-json", two]
    assert run_cli(*args, "--json", scores) == 0
    assert "house" in capsys.readouterr().out
    assert list(json.loads(scores.read_text())["per_class"]) == ["1", "2"]
    # the table: a row per class of classes.json
    out = tmp_path / "t"
    assert run_cli("plots", "table", scores, "--classes-json", two, "--csv", out / "s.csv") == 0
    rows = list(csv.DictReader((out / "s.csv").open()))
    assert [(r["class"], r["name"]) for r in rows] == [("1", "house"), ("2", "shed"), ("mean", "")]


def test_summary_of_empty_results_names_what_is_missing(tmp_path, capsys):
    # exit 1 (incomplete) since issue 20; tests/test_summary_exit.py has the cases
    (tmp_path / "results").mkdir()
    assert run_cli("summary", tmp_path / "results") == 1
    out = capsys.readouterr().out
    assert "missing:" in out and "scores.json" in out and "submission.csv.gz" in out
    assert run_cli("summary", tmp_path / "results", "--exit-zero") == 0


def test_summary_of_broken_files_names_them(tmp_path, capsys):
    res = tmp_path / "results"
    (res / "validation").mkdir(parents=True)
    (res / "validation/scores.json").write_text("{not json")
    (res / "submission.csv.gz").write_bytes(b"not gzip")
    assert run_cli("summary", res) == 1
    out = capsys.readouterr().out
    assert "scores.json: unreadable" in out and "submission.csv.gz: unreadable" in out


def test_summary_imports_nothing_heavy(fake, tmp_path):
    res = make_results(fake, tmp_path / "results")
    code = (
        "import sys; from dstl_hpc.cli import main; rc = main(['summary', sys.argv[1]]);"
        "heavy = [m for m in ('numpy', 'torch', 'matplotlib', 'shapely', 'h5py') if m in sys.modules];"
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(res)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


# ------------------------------------------------------------------ workflow


def report_snakefile(tmp_path):
    """The repo's Snakefile when it includes report.smk, else a copy beside links to
    the repo's folders that includes it and adds report_targets() to `rule all`."""
    text = (ROOT / "Snakefile").read_text()
    if "report.smk" in text and "report_targets()" in text:
        return ROOT / "Snakefile"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("config", "workflow", "dstl_hpc", "envs", "profiles"):
        if (ROOT / name).exists():
            (mirror / name).symlink_to(ROOT / name)
    text = text.replace(
        'include: "workflow/rules/polygons.smk"\n',
        'include: "workflow/rules/polygons.smk"\ninclude: "workflow/rules/report.smk"\n',
    )
    text = text.replace("final_targets(),", "final_targets() + report_targets(),")
    assert "report_targets()" in text
    (mirror / "Snakefile").write_text(text)
    return mirror / "Snakefile"


def snakemake(snakefile, workdir, cfg, *args, check=True):
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(cfg_path),
        "--cores",
        "2",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def test_report_rules_dry_run_and_lint(tmp_path):
    from tests.test_workflow import tiny_config

    snakefile = report_snakefile(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    cfg = tiny_config()
    cfg["classes"]["3"] = {"threshold": 0.4}
    proc = snakemake(snakefile, work, cfg, "-n", "-p")
    text = proc.stdout + proc.stderr
    for rule, n in [
        ("report_training", 1),
        ("report_sweeps", 1),
        ("report_table", 1),
        ("report_overlays", 2),
    ]:
        assert f"\n{rule}" in text and any(
            line.split() == [rule, str(n)] for line in text.splitlines()
        ), rule
    assert "--fixed-threshold 3=0.4" in text
    assert "results/report/thresholds/threshold_class_3.png" not in text
    lint = snakemake(snakefile, work, cfg, "--lint", check=False)
    lint_text = lint.stdout + lint.stderr
    assert "report.smk" not in lint_text and "report_" not in lint_text, lint_text[-3000:]


def report_only_snakefile(tmp_path):
    """A Snakefile with the repo's config handling, common.smk, classes.smk and report.smk
    only: the report rules' other inputs are then source files that a test writes itself."""
    mirror = tmp_path / "report_only"
    mirror.mkdir()
    for name in ("config", "workflow", "dstl_hpc", "envs"):
        (mirror / name).symlink_to(ROOT / name)
    text = (ROOT / "Snakefile").read_text()
    head = text[: text.index('include: "workflow/rules/common.smk"')]
    (mirror / "Snakefile").write_text(
        head
        + 'include: "workflow/rules/common.smk"\n'
        + 'include: "workflow/rules/classes.smk"\n'
        + 'include: "workflow/rules/report.smk"\n\n\n'
        + "rule all:\n    input:\n        report_targets(),\n    default_target: True\n"
    )
    return mirror / "Snakefile"


def fake_report_inputs(fake, work, cfg):
    """The files the report rules read, for the tiny config's ids, groups and classes."""
    from dstl_hpc.config.plan import Plan
    from dstl_hpc.prepare.stacks import read_stack
    from dstl_hpc.sources.dstl import synthetic_ids

    syn = cfg["synthetic"]
    train_ids, test_ids = synthetic_ids(syn["images"], syn["train_images"])
    valid_ids = cfg.get("validation_ids") or train_ids[-2:]
    res = work / "results"
    data = res / "data"
    data.mkdir(parents=True)
    grid_line = (fake / "grid_sizes.csv").read_text().splitlines()[1].split(",", 1)[1]
    (data / "grid_sizes.csv").write_text(
        ",Xmax,Ymin\n" + "".join(f"{i},{grid_line}\n" for i in train_ids + test_ids)
    )
    truth = list(csv.reader((fake / "train_wkt_v4.csv").open()))[1:]
    write_rows(data / "train_wkt_v4.csv", [(i, int(k), w) for i in train_ids for _, k, w in truth])
    # the synthetic test truth and the test scores (the `all` variant's, scored)
    write_rows(data / "synth_test_wkt.csv", [(i, int(k), w) for i in test_ids for _, k, w in truth])
    image = read_stack(fake / "stack.h5")
    plan = Plan(cfg)
    for i in valid_ids:  # where the align parts put them (stacks/part{p}/{id}.h5)
        write_stack(work / plan.stack_file(i), image, i, {})
    for k in range(1, 11):
        rows = list(csv.reader((fake / f"polygons/class_{k}.csv").open()))[1:]
        write_rows(
            res / f"polygons/validation/class_{k}.csv", [(i, k, rows[0][2]) for i in valid_ids]
        )
        sweep = json.loads((fake / "thresholds/class_1.json").read_text())
        sweep["class"] = k
        (res / "validation/thresholds").mkdir(parents=True, exist_ok=True)
        (res / f"validation/thresholds/class_{k}.json").write_text(json.dumps(sweep))
    scores = json.loads((fake / "scores.json").read_text())
    scores["images"] = valid_ids
    (res / "validation/scores.json").write_text(json.dumps(scores))
    (res / "test").mkdir()
    (res / "test/scores.json").write_text(json.dumps({**scores, "images": test_ids}))
    metrics = (fake / "models/validation/built/metrics.csv").read_text()
    for variant in ("validation", "all"):
        for group, settings in cfg["groups"].items():
            ks = settings["classes"]
            cols = ",".join(f"jaccard_{k}" for k in ks)
            lines = metrics.splitlines()
            head = lines[0].replace("jaccard_1,jaccard_2", cols)
            body = [",".join(r.split(",")[:5] + ["0.5"] * len(ks) + ["0.5"]) for r in lines[1:]]
            p = res / f"models/{variant}/{group}/metrics.csv"
            p.parent.mkdir(parents=True)
            p.write_text("\n".join([head, *body]) + "\n")
    return valid_ids


def check_report_zip(path, groups, valid_ids, swept):
    """The report zip holds every figure at its size and the ten-class table."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert "report/report.html" in names
        pngs = {Path(n).name: n for n in names if n.endswith(".png")}
        want = {f"training_{g}.png" for g in groups}
        want |= {f"threshold_class_{k}.png" for k in swept}
        want |= {f"{i}_{g}.png" for i in valid_ids for g in groups}
        want |= {"validation_scores.png"}
        assert want == set(pngs), sorted(want ^ set(pngs))
        sizes = {"validation_scores.png": (450, 800)}
        for name, member in pngs.items():
            with z.open(member) as fh:
                import matplotlib.image

                h, w = matplotlib.image.imread(fh).shape[:2]
            if name.startswith("training_"):
                assert (h, w) == (400, 1000), name
            elif name.startswith("threshold_class_"):
                assert (h, w) == (400, 640), name
            elif name in sizes:
                assert (h, w) == sizes[name]
            else:
                assert w == 800 and h > 100, name
        table = next(n for n in names if n.endswith("validation_scores.csv"))
        rows = list(csv.DictReader(z.read(table).decode().splitlines()))
        assert [r["class"] for r in rows] == [str(k) for k in range(1, 11)] + ["mean"]
        page = next(n for n in names if n.endswith("validation_scores.html"))
        assert z.read(page).decode().count("<tr") == 12  # header, ten classes, mean
        html = z.read("report/report.html").decode()
        test_table = next(n for n in names if n.endswith("test_scores.csv"))
        assert len(list(csv.DictReader(z.read(test_table).decode().splitlines()))) == 11
        categories = ("Validation scores", "Test scores", "Training curves", "Threshold sweeps")
        for category in (*categories, "Overlays"):
            assert category in html, category


@pytest.mark.slow
def test_report_rules_build_the_report_zip(fake, tmp_path):
    """report.smk alone on fake inputs: every figure is made and lands in report.zip."""
    from tests.test_workflow import tiny_config

    snakefile = report_only_snakefile(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    # Few figures (the suite stays fast): two groups, one validation image, two
    # classes swept and the others with a fixed threshold.
    cfg = tiny_config()
    cfg["groups"] = {"built": {"classes": [1, 2]}, "rest": {"classes": list(range(3, 11))}}
    cfg["class_defaults"]["threshold"] = 0.5
    cfg["classes"] = {"1": {"threshold": None}, "2": {"threshold": None}}
    cfg["validation_ids"] = ["6010_0_3"]
    valid_ids = fake_report_inputs(fake, work, cfg)
    assert valid_ids == ["6010_0_3"]
    snakemake(snakefile, work, cfg)
    assert "Nothing to be done" in snakemake(snakefile, work, cfg, "-n").stdout
    snakemake(snakefile, work, cfg, "--report", "report.zip")
    check_report_zip(work / "report.zip", list(cfg["groups"]), valid_ids, [1, 2])
    rows = list(csv.DictReader((work / "results/report/validation_scores.csv").open()))
    assert [r["threshold_source"] for r in rows[:10]] == ["swept"] * 2 + ["fixed"] * 8


@pytest.mark.slow
def test_report_zip_of_a_tiny_run(tmp_path):
    from tests.test_workflow import tiny_config

    snakefile = report_snakefile(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    cfg = tiny_config()
    snakemake(snakefile, work, cfg)
    snakemake(snakefile, work, cfg, "--report", "report.zip")
    valid_ids = json.loads((work / "results/validation/scores.json").read_text())["images"]
    check_report_zip(work / "report.zip", list(cfg["groups"]), valid_ids, range(1, 11))
    # The summary of the same run.
    proc = subprocess.run(
        [sys.executable, "-m", "dstl_hpc", "summary", str(work / "results")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and "mean polygon Jaccard" in proc.stdout
    assert "submission.csv.gz (" in proc.stdout and "missing" not in proc.stdout


def test_table_names_the_group_of_each_class_and_how_it_was_chosen(fake, tmp_path):
    sweeps = []
    for p in sorted(fake.glob("thresholds/class_*.json")):
        d = json.loads(p.read_text())
        d["group"] = "net"
        if d["class"] == 1:  # chosen over an index model
            d["group_scores"] = {"net": 0.61, "water_index": 0.4}
        sweeps.append(tmp_path / p.name)
        sweeps[-1].write_text(json.dumps(d))
    out = tmp_path / "t"
    args = ["--csv", out / "s.csv", "--html", out / "s.html", "--png", out / "s.png"]
    assert run_cli("plots", "table", fake / "scores.json", "--sweeps", *sweeps, *args) == 0
    by = {r["class"]: r for r in csv.DictReader((out / "s.csv").open())}
    assert by["1"]["group"] == "net" and by["1"]["group_choice"] == "net 0.6100; water_index 0.4000"
    assert by["2"]["group"] == "net" and by["2"]["group_choice"] == ""
    assert by["3"]["group"] == "" and by["mean"]["group"] == ""
    page = (out / "s.html").read_text()
    assert "chosen on validation" in page and "water_index 0.4000" in page
