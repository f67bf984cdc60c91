# The report: figures and tables for `snakemake --report report.zip`, under
# <results>/report/. Every figure is a `dstl-hpc plots <what>` job; the report
# itself (with the rule graph, run times and these files) is built by Snakemake.
# report_targets() lists the files for `rule all`.
REPORT = PATHS.report()
# The validation figures and tables read the DSTL sweeps and polygon CSVs; a geo run's
# report has the training curves (its scores are in validation/ and test/scores.json).
REPORT_VALIDATION = "validation" in PLAN.variants and PLAN.geo is None
# The source's class names (id -> name), for the report's labels; the figures read
# them from classes.json.
NAMES = PLAN.class_names
CLASSES_JSON = PATHS.classes()


report: "../report/workflow.rst"


# Thresholds set in the config (the others are swept: Plan decides).
REPORT_FIXED = PLAN.fixed_thresholds()
REPORT_GROUP_LABELS = {
    g: ", ".join(f"{k} {NAMES[k]}" for k in PLAN.groups[g]["classes"]) for g in GROUPS
}
# The report's files: training curves always, the rest with the validation variant.
TRAINED = PLAN.trained_groups  # index models have no training curves
REPORT_TARGETS = [f"{REPORT}/training/training_{g}.png" for g in TRAINED]
if REPORT_VALIDATION:
    REPORT_TARGETS += [f"{REPORT}/validation_scores.{ext}" for ext in ("html", "csv", "png")]
    REPORT_TARGETS += [f"{REPORT}/thresholds/threshold_class_{k}.png" for k in SWEPT]
    REPORT_TARGETS += [
        f"{REPORT}/overlays/{image}_{g}.png" for image in PLAN.validation_ids for g in GROUPS
    ]
if SCORE_TEST:
    REPORT_TARGETS += [f"{REPORT}/test_scores.{ext}" for ext in ("html", "csv")]
# The overlays' second title line: which polygons they show.
OVERLAY_NOTE = (
    "the validation variant's polygons; thresholds tuned on the "
    f"{len(PLAN.validation_ids)} validation images (this one included) or fixed"
)
# For `rule all`: report_targets() (a lambda: `snakemake --lint` objects to `def`
# functions in a file with rules).
report_targets = lambda: list(REPORT_TARGETS)


localrules:
    report_training,


rule report_training:
    input:
        metrics=[PATHS.metrics(v, g) for v in PLAN.variants for g in TRAINED],
        classes=CLASSES_JSON,
    output:
        curves=[
            report(
                f"{REPORT}/training/training_{g}.png",
                caption="../report/training.rst",
                category="Training curves",
                labels={"group": g, "classes": REPORT_GROUP_LABELS[g]},
            )
            for g in TRAINED
        ],
    log:
        f"{LOGS}/report/training.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        out=lambda wc, output: os.path.dirname(output.curves[0]),
        valid=id_args("--validation-ids", PLAN.validation_ids),
    shell:
        "python -m dstl_hpc plots training {input.metrics:q} --classes-json {input.classes:q}"
        " {params.valid:q} --out-dir {params.out:q} > {log:q} 2>&1"


if REPORT_VALIDATION and SWEPT:

    localrules:
        report_sweeps,

    rule report_sweeps:
        input:
            sweeps=[PATHS.thresholds(k) for k in SWEPT],
            classes=CLASSES_JSON,
        output:
            curves=[
                report(
                    f"{REPORT}/thresholds/threshold_class_{k}.png",
                    caption="../report/thresholds.rst",
                    category="Threshold sweeps",
                    labels={"class": str(k), "name": NAMES[k]},
                )
                for k in SWEPT
            ],
        log:
            f"{LOGS}/report/sweeps.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            out=lambda wc, output: os.path.dirname(output.curves[0]),
        shell:
            "python -m dstl_hpc plots sweeps {input.sweeps:q} --classes-json {input.classes:q}"
            " --out-dir {params.out:q} > {log:q} 2>&1"


if REPORT_VALIDATION:

    localrules:
        report_table,
        report_overlays,

    rule report_table:
        input:
            scores=PATHS.scores("validation"),
            sweeps=[PATHS.thresholds(k) for k in SWEPT],
            classes=CLASSES_JSON,
            truth=PLAN.layout.train_wkt,
            grid=PLAN.layout.grid_sizes,
        output:
            html=report(
                f"{REPORT}/validation_scores.html",
                caption="../report/scores.rst",
                category="Validation scores",
                labels={"figure": "per-class table"},
            ),
            csv=report(
                f"{REPORT}/validation_scores.csv",
                caption="../report/scores.rst",
                category="Validation scores",
                labels={"figure": "per-class table (CSV)"},
            ),
            png=report(
                f"{REPORT}/validation_scores.png",
                caption="../report/scores_chart.rst",
                category="Validation scores",
                labels={"figure": "bar chart"},
            ),
        log:
            f"{LOGS}/report/table.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            sweeps=lambda wc, input: ["--sweeps", *input.sweeps] if input.sweeps else [],
            fixed=["--fixed-threshold"] + [f"{k}={t}" for k, t in REPORT_FIXED.items()],
        shell:
            "python -m dstl_hpc plots table {input.scores:q} {params.sweeps:q}"
            " --truth {input.truth:q} --grid-sizes {input.grid:q} {params.fixed:q}"
            " --classes-json {input.classes:q} --csv {output.csv:q} --html {output.html:q}"
            " --png {output.png:q} > {log:q} 2>&1"

    rule report_overlays:
        input:
            stacks=lambda wc: PLAN.stack_dirs([wc.image]),
            truth=PLAN.layout.train_wkt,
            grid=PLAN.layout.grid_sizes,
            polygons=[PATHS.polygons("validation", k) for k in CLASSES],
            classes=CLASSES_JSON,
        output:
            overlays=[
                report(
                    f"{REPORT}/overlays/{{image}}_{g}.png",
                    caption="../report/overlays.rst",
                    category="Overlays",
                    subcategory="{image}",
                    labels={"image": "{image}", "group": g, "classes": REPORT_GROUP_LABELS[g]},
                )
                for g in GROUPS
            ],
        log:
            f"{LOGS}/report/overlays/{{image}}.log",
        wildcard_constraints:
            image="|".join(PLAN.validation_ids),
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=15,
        params:
            stack=lambda wc: PLAN.stack_file(wc.image),
            groups=[f"{g}={','.join(str(k) for k in PLAN.groups[g]['classes'])}" for g in GROUPS],
            out=lambda wc, output: os.path.dirname(output.overlays[0]),
            note=OVERLAY_NOTE,
        shell:
            "python -m dstl_hpc plots overlay {params.stack:q} --truth {input.truth:q}"
            " --grid-sizes {input.grid:q} --polygons {input.polygons:q} --group {params.groups:q}"
            " --image {wildcards.image:q} --classes-json {input.classes:q}"
            " --split validation --note {params.note:q} --out-dir {params.out:q} > {log:q} 2>&1"


if SCORE_TEST:

    localrules:
        report_test_table,

    rule report_test_table:
        input:
            scores=PATHS.scores("test"),
            classes=CLASSES_JSON,
            truth=f"{DATA}/synth_test_wkt.csv",
            grid=PLAN.layout.grid_sizes,
        output:
            html=report(
                f"{REPORT}/test_scores.html",
                caption="../report/test_scores.rst",
                category="Test scores",
                labels={"figure": "per-class table"},
            ),
            csv=report(
                f"{REPORT}/test_scores.csv",
                caption="../report/test_scores.rst",
                category="Test scores",
                labels={"figure": "per-class table (CSV)"},
            ),
        log:
            f"{LOGS}/report/test_table.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        shell:
            "python -m dstl_hpc plots table {input.scores:q} --split test --truth {input.truth:q}"
            " --grid-sizes {input.grid:q} --classes-json {input.classes:q}"
            " --csv {output.csv:q} --html {output.html:q} > {log:q} 2>&1"
