"""Issue 20, "honest at a glance": every chart and table says which score it shows
(polygon or pixel Jaccard; held out or tuned) and on which images, and the overlay's
cover percentages are true shares of the image (hand-computed cases)."""

import csv
import json

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from dstl_hpc.cli import main
from dstl_hpc.plots import (
    cover_share,
    overlay_figures,
    score_bars_figure,
    score_table,
    show_figure,
    sweep_figure,
    training_figures,
    write_table_csv,
    write_table_html,
)
from dstl_hpc.polygons import to_wkt, write_rows
from dstl_hpc.prepare.stacks import write_mask, write_prediction, write_stack
from dstl_hpc.scoring.labels import image_set, score_kinds
from dstl_hpc.sources.dstl import pixels_to_grid

H, W = 120, 160
XMAX, YMIN = 0.009, -0.0068
VALID = ["6010_1_1", "6010_1_2"]
TEST = ["6120_2_0", "6120_2_1", "6120_2_2", "6120_2_3"]


def texts(fig) -> str:
    """Every text of a figure: titles, axis labels, legend entries, notes, ticks."""
    import matplotlib.pyplot as plt

    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_xticklabels()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    plt.close(fig)
    return "\n".join(out)


def grid(geom):
    return pixels_to_grid(geom, W, H, XMAX, YMIN)


def multi(*boxes):
    return MultiPolygon([box(*b) for b in boxes])


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """A tiny run of one image (120 x 160 px): stack, mask, prediction, polygons,
    truth, metrics, a sweep and validation scores with held-out and tuned figures."""
    d = tmp_path_factory.mktemp("labels")
    image = VALID[0]
    rng = np.random.default_rng(0)
    write_stack(d / "stack.h5", rng.integers(1000, 3000, (20, H, W)).astype(np.uint16), image, {})
    # truth: class 1 a 48 x 40 box (10 % of the image); prediction: the whole image
    truth = {1: multi((0, 0, 48, 40))}
    pred = {1: multi((0, 0, W, H)), 2: multi((0, 0, 80, 60))}
    (d / "grid_sizes.csv").write_text(f",Xmax,Ymin\n{image},{XMAX},{YMIN}\n")
    empty = "MULTIPOLYGON EMPTY"
    rows = [(image, k, to_wkt(grid(truth[k])) if k in truth else empty) for k in range(1, 11)]
    write_rows(d / "truth.csv", rows)
    for k in range(1, 11):
        wkt = to_wkt(grid(pred[k])) if k in pred else empty
        write_rows(d / f"polygons/class_{k}.csv", [(image, k, wkt)])
    from dstl_hpc.prepare.raster import rasterize

    mask = np.zeros((10, H, W), np.uint8)
    mask[0] = rasterize(truth[1], (H, W))
    write_mask(d / "mask.h5", mask, image, {})
    prob = np.zeros((1, H, W), np.uint8)
    prob[0, :, :80] = 200
    write_prediction(d / "pred.h5", prob, image, [1])
    metrics = d / "models/validation/built/metrics.csv"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(
        "epoch,lr,train_loss,valid_loss,jaccard_1,jaccard_2,mean_jaccard\n"
        "1,0.003,1.0,1.1,0.2,0.3,0.25\n2,0.003,0.8,0.9,0.3,0.4,0.35\n"
    )
    sweep = {
        "class": 1,
        "threshold": 0.4,
        "thresholds": [0.3, 0.4, 0.5],
        "scores": [0.5, 0.6, 0.55],
        "epsilon": 1.0,
        "min_area": 5.0,
        "images": VALID,
    }
    (d / "class_1.json").write_text(json.dumps(sweep))
    per = {str(k): None for k in range(1, 11)}
    scores = {
        "per_class": {**per, "1": 0.41},
        "mean": 0.41,
        "per_class_tuned": {**per, "1": 0.72},
        "mean_tuned": 0.72,
        "pixel_per_class": {**per, "1": 0.75},
        "pixel_mean": 0.75,
        "images": VALID,
    }
    (d / "scores.json").write_text(json.dumps(scores))
    test = {k: v for k, v in scores.items() if "tuned" not in k} | {"images": TEST}
    (d / "test_scores.json").write_text(json.dumps(test))
    return d


# ------------------------------------------------------------------ words


def test_score_kinds_say_held_out_tuned_or_as_scored():
    with_tuned = {"per_class": {}, "per_class_tuned": {}, "pixel_per_class": {}}
    assert [s.label for s in score_kinds(with_tuned, "validation")] == [
        "polygon Jaccard, held out",
        "polygon Jaccard, tuned",
        "pixel Jaccard, tuned",  # the tuned polygons rasterised
    ]
    plain = {"per_class": {}, "pixel_per_class": {}}
    test = score_kinds(plain, "test")
    assert [s.label for s in test] == ["polygon Jaccard, held out", "pixel Jaccard, held out"]
    assert "chosen on the validation images" in test[0].thresholds
    fixed = score_kinds(plain, "validation", all_fixed=True)
    assert [s.column for s in fixed] == ["polygon_jaccard_held_out", "pixel_jaccard_held_out"]
    assert [s.kind for s in score_kinds(plain, "validation")] == ["as scored", "as scored"]
    assert image_set(VALID, "validation") == "2 validation images: 6010_1_1, 6010_1_2"
    assert image_set(TEST, "test", limit=2).startswith("4 test images: 6120_2_0, 6120_2_1, ...")


# ----------------------------------------------------------------- charts


def test_bar_chart_names_each_score_and_the_images(run_files):
    rows, mean = score_table(run_files / "scores.json", [run_files / "class_1.json"])
    text = texts(score_bars_figure(rows, mean))
    for label in ("polygon Jaccard, held out", "polygon Jaccard, tuned", "pixel Jaccard, tuned"):
        assert label in text, text
    assert "2 validation images: 6010_1_1, 6010_1_2" in text
    assert "mean polygon Jaccard, held out 0.410" in text


def test_training_curves_name_the_metric_and_the_validation_images(run_files):
    metrics = [run_files / "models/validation/built/metrics.csv"]
    (fig,) = training_figures(metrics, valid_ids=VALID).values()
    text = texts(fig)
    assert "Pixel Jaccard (p > 0.5)" in text and "2 validation images: 6010_1_1" in text
    assert "validation variant: training loss" in text
    assert "validation variant: loss on the validation images" in text


def test_sweep_curve_names_the_metric_images_and_that_the_choice_is_tuned(run_files):
    from dstl_hpc.plots import names_of
    from dstl_hpc.scoring.files import read_sweep

    text = texts(sweep_figure(read_sweep(run_files / "class_1.json"), names_of()))
    assert "polygon Jaccard on 2 validation images: 6010_1_1, 6010_1_2" in text
    assert "chosen threshold 0.4 (polygon Jaccard 0.600, tuned" in text


def test_overlay_names_the_score_and_covers_are_true_shares(run_files):
    d = run_files
    pieces = sorted(d.glob("polygons/class_*.csv"))
    image, figures = overlay_figures(
        d / "stack.h5", d / "truth.csv", d / "grid_sizes.csv", pieces, {"built": [1, 2]},
        note="the validation variant's polygons",
    )  # fmt: skip
    text = texts(figures["built"])
    assert image == VALID[0]
    assert "validation image 6010_1_1 - group built: polygon Jaccard of this image" in text
    # class 1: truth 48 x 40 px of 160 x 120 = 10 %; the prediction is the whole image:
    # 100 % (not 101.5 %, the grid's (W + 1) / W scaling); Jaccard 1920 / 19200
    assert "1 buildings: polygon Jaccard 0.100" in text
    assert "truth covers 10.0% of the image, prediction 100.0%" in text
    # class 2: no truth, a prediction of 80 x 60 px = 25 %
    assert "truth covers 0.0% of the image, prediction 25.0%" in text
    assert "the validation variant's polygons" in text


def test_cover_share_is_a_fraction_of_the_rectangle():
    frame = (0, 0, 10, 10)
    # two overlapping polygons: their union, 8 x 10 of 10 x 10, not their summed areas
    assert cover_share(multi((0, 0, 6, 10), (2, 0, 8, 10)), frame) == pytest.approx(0.8)
    # a polygon larger than the image: clipped to it
    assert cover_share(multi((-5, -5, 20, 20)), frame) == 1.0
    # a bowtie (self-crossing): its two triangles, 2 x 25 of 100
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    assert cover_share(bowtie, frame) == pytest.approx(0.5)
    assert cover_share(MultiPolygon(), frame) == 0.0


def test_show_names_the_pixel_jaccard_of_the_image(run_files):
    d = run_files
    fig = show_figure(d / "stack.h5", mask=d / "mask.h5", predictions=[d / "pred.h5"])
    text = texts(fig)
    assert "image 6010_1_1 (120 x 160 px); pixel Jaccard of this image at p >= 0.5" in text
    # truth 48 x 40 px inside a prediction of 80 x 120 px: 1920 / 9600
    assert "1 buildings: pixel Jaccard 0.200" in text


# ----------------------------------------------------------------- tables


def test_table_columns_and_page_name_each_score_and_the_images(run_files, tmp_path):
    rows, mean = score_table(run_files / "scores.json", [run_files / "class_1.json"])
    write_table_csv(tmp_path / "v.csv", rows, mean)
    header = next(csv.reader((tmp_path / "v.csv").open()))
    scores = ["polygon_jaccard_held_out", "polygon_jaccard_tuned", "pixel_jaccard_tuned"]
    assert [c for c in header if "jaccard" in c and "baseline" not in c] == scores
    write_table_html(tmp_path / "v.html", rows, mean)
    page = (tmp_path / "v.html").read_text()
    for label in ("polygon Jaccard, held out", "polygon Jaccard, tuned", "pixel Jaccard, tuned"):
        assert f"<th>{label}</th>" in page
    assert "Validation scores per class: 2 validation images: 6010_1_1, 6010_1_2" in page
    assert "thresholds chosen on the other validation images" in page


def test_test_table_says_test_images_and_held_out(run_files, tmp_path):
    out = tmp_path / "t"
    rc = main(["plots", "table", str(run_files / "test_scores.json"), "--split", "test",
               "--csv", str(out / "t.csv"), "--html", str(out / "t.html")])  # fmt: skip
    assert rc == 0
    header = next(csv.reader((out / "t.csv").open()))
    assert "polygon_jaccard_held_out" in header and "pixel_jaccard_held_out" in header
    page = (out / "t.html").read_text()
    assert "Test scores per class: 4 test images: 6120_2_0" in page
    assert "<th>polygon Jaccard, held out</th>" in page and "Validation scores" not in page
    assert "thresholds chosen on the validation images" in page


def test_summary_labels_each_score_and_names_the_images(run_files, tmp_path, capsys):
    res = tmp_path / "results"
    (res / "validation/thresholds").mkdir(parents=True)
    (res / "validation/scores.json").write_text((run_files / "scores.json").read_text())
    (res / "test").mkdir()
    (res / "test/scores.json").write_text((run_files / "test_scores.json").read_text())
    main(["summary", str(res)])
    out = capsys.readouterr().out
    assert "validation (2 validation images: 6010_1_1, 6010_1_2):" in out
    assert "held out mean polygon Jaccard 0.4100 (thresholds chosen on the other" in out
    assert "tuned mean polygon Jaccard 0.7200 (thresholds chosen on these" in out
    assert "tuned mean pixel Jaccard 0.7500" in out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["class", "name"])
    assert lines[at].split() == ["class", "name", *["polygon", "Jaccard"] * 2, "pixel", "Jaccard"]
    assert lines[at + 1].split() == ["held", "out", "tuned", "tuned", "threshold"]
    assert "test (4 test images: 6120_2_0, 6120_2_1, 6120_2_2, 6120_2_3" in out
    assert "held out mean polygon Jaccard 0.4100 (thresholds chosen on the validation" in out


def test_geo_summary_names_scenes_and_scores(tmp_path):
    from dstl_hpc.sources.geo.summary import geo_summary

    res = tmp_path / "results"
    (res / "geo").mkdir(parents=True)
    scenes = {"s1": {"split": "validation"}, "s2": {"split": "test"}}
    (res / "geo/check.json").write_text(json.dumps({"scenes": scenes}))
    s = {"iou": 0.9, "f1": 0.95, "precision": 0.9, "recall": 1.0, "polygon_jaccard": 0.8}
    for split, scene in (("validation", "s1"), ("test", "s2")):
        (res / split).mkdir()
        scores = {"scenes": [scene], "classes": {"house": {**s, "threshold": 0.4}}, "mean": s}
        (res / split / "scores.json").write_text(json.dumps(scores))
    lines, _ = geo_summary(res)
    text = "\n".join(lines)
    assert "1 validation scene: s1 (thresholds chosen on these scenes: tuned):" in text
    assert "1 test scene: s2 (thresholds chosen on the validation scenes: held out):" in text
    head = [line.split() for line in lines if line.split()[:1] == ["class"]][0]
    assert head == ["class", "pixel", "pixel", "pixel", "pixel", "polygon"]
    assert "IoU F1 prec. recall Jaccard threshold" in " ".join(text.split())


def test_the_score_command_table_names_each_score_and_the_images():
    """`dstl-hpc score`'s printed table: the pixel column of a validation score with
    sweeps is the tuned pixel Jaccard, beside the held-out and tuned polygon Jaccard;
    test scores are held out; each row's figures sit under the right label."""
    from dstl_hpc.scoring.metrics import format_table
    from dstl_hpc.sources.base import ClassInfo

    known = [ClassInfo(1, "buildings", "area"), ClassInfo(2, "roads", "line")]
    validation = {
        "per_class": {"1": 0.25, "2": None},
        "per_class_tuned": {"1": 0.5, "2": 0.125},
        "pixel_per_class": {"1": 0.75, "2": 0.0625},
        "mean": 0.25,
        "mean_tuned": 0.3125,
        "pixel_mean": 0.40625,
        "images": VALID,
    }
    lines = format_table(validation, known, "validation").splitlines()
    head = lines[0]
    labels = ["polygon Jaccard, held out", "polygon Jaccard, tuned", "pixel Jaccard, tuned"]
    assert [head.index(x) for x in labels] == sorted(head.index(x) for x in labels)
    assert lines[1].split()[2:] == ["0.2500", "0.5000", "0.7500"]
    assert lines[2].split()[2:] == ["-", "0.1250", "0.0625"]
    assert lines[3].split()[1:] == ["0.2500", "0.3125", "0.4062"]
    assert "on 2 validation images: 6010_1_1, 6010_1_2" in lines
    assert any(x.startswith("pixel Jaccard, tuned: thresholds chosen on these") for x in lines)

    test = {k: validation[k] for k in ("per_class", "pixel_per_class", "mean", "pixel_mean")}
    table = format_table({**test, "images": TEST}, known, "test")
    assert "polygon Jaccard, held out" in table and "pixel Jaccard, held out" in table
    assert "tuned" not in table
    assert f"on 4 test images: {', '.join(TEST)}" in table
