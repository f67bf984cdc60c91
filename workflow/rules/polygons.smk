# Stage 5: thresholds swept on validation, polygons per class and image,
# per-class CSVs, validation scores and the merged submission.


rule sweep:
    # One group's validation predictions of class k, swept; `choose` picks among groups.
    input:
        predictions=lambda wc: [
            prediction_dir("validation", wc.group, p) for p in parts("validation")
        ],
        truth=PLAN.layout.train_wkt,
        grid=PLAN.layout.grid_sizes,
    output:
        PATHS.sweep("{k}", "{group}"),
    log:
        f"{LOGS}/sweep/class_{{k}}/{{group}}.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        files=lambda wc: [
            f for p in parts("validation") for f in prediction_files("validation", wc.group, p)
        ],
        thresholds=PLAN.sweep_thresholds(),
        grid=PLAN.sweep_grid_args(),
        epsilon=lambda wc: PLAN.class_settings(int(wc.k))["epsilon"],
        min_area=lambda wc: PLAN.class_settings(int(wc.k))["min_area"],
    shell:
        "python -m dstl_hpc sweep {output:q} --class {wildcards.k:q} --group {wildcards.group:q}"
        " --truth {input.truth:q}"
        " --grid-sizes {input.grid:q} --predictions {params.files:q}"
        " --thresholds {params.thresholds:q} --epsilon {params.epsilon:q}"
        " --min-area {params.min_area:q} {params.grid:q} > {log:q} 2>&1"


rule choose:
    # The group that predicts class k (the one of the best held-out score when several),
    # its threshold, epsilon and min_area: what polygonize and score use.
    input:
        lambda wc: [PATHS.sweep(wc.k, g) for g in PLAN.candidates(wc.k)],
    output:
        PATHS.thresholds("{k}"),
    log:
        f"{LOGS}/choose/class_{{k}}.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pairs=lambda wc, input: [
            f"{g}={path}" for g, path in zip(PLAN.candidates(wc.k), input, strict=True)
        ],
    shell:
        "python -m dstl_hpc choose {output:q} --class {wildcards.k:q} {params.pairs:q}"
        " > {log:q} 2>&1"


rule polygonize:
    input:
        predictions=lambda wc: polygon_job_dirs(wc.variant, wc.k, wc.part),
        grid=PLAN.layout.grid_sizes,
        threshold=threshold_input,
    output:
        PATHS.polygon_part("{variant}", "{k}", "{part}"),
    log:
        f"{LOGS}/polygonize/{{variant}}/class_{{k}}/part{{part}}.log",
    group:
        "polygons"
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        files=lambda wc: polygon_job_files(wc.variant, wc.k, wc.part),
        threshold=threshold_arg,
        epsilon=lambda wc: PLAN.class_settings(int(wc.k))["epsilon"],
        min_area=lambda wc: PLAN.class_settings(int(wc.k))["min_area"],
    shell:
        "python -m dstl_hpc polygonize {params.files:q} {output:q} --class {wildcards.k:q}"
        " --grid-sizes {input.grid:q} {params.threshold:q}"
        " --epsilon {params.epsilon:q} --min-area {params.min_area:q} > {log:q} 2>&1"


rule gather:
    input:
        lambda wc: [PATHS.polygon_part(wc.variant, wc.k, p) for p in polygon_parts(wc.variant)],
    output:
        PATHS.polygons("{variant}", "{k}"),
    log:
        f"{LOGS}/gather/{{variant}}/class_{{k}}.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m dstl_hpc gather {output:q} {input:q} > {log:q} 2>&1"


rule score:
    input:
        truth=PLAN.layout.train_wkt,
        polygons=[PATHS.polygons("validation", k) for k in CLASSES],
        images=[PLAN.layout.three_band(i) for i in PLAN.validation_ids],
        sweeps=[PATHS.thresholds(k) for k in SWEPT],
        classes=PATHS.classes(),
    output:
        PATHS.scores("validation"),
    log:
        f"{LOGS}/score.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=lambda wc, input: os.path.dirname(input.truth),
        images=PLAN.validation_ids,
        classes=CLASSES,
        # held-out per-class scores (leave one image out) from the sweeps
        sweeps=lambda wc, input: ["--sweeps", *input.sweeps] if input.sweeps else [],
    shell:
        "python -m dstl_hpc score {input.truth:q} {input.polygons:q} --images {params.images:q}"
        " --classes {params.classes:q} --data-dir {params.data:q} {params.sweeps:q}"
        " --classes-json {input.classes:q} --json {output:q} > {log:q} 2>&1"


rule merge:
    input:
        polygons=[PATHS.polygons("all", k) for k in CLASSES],
        sample=PLAN.layout.sample_submission,
        # test ids that are training ids get their truth polygons (an option)
        truth=[PLAN.layout.train_wkt] if PLAN.truth_for_training_ids else [],
    output:
        submission=PATHS.submission(),
        sources=PATHS.submission_sources(),
    log:
        f"{LOGS}/merge.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        truth=lambda wc, input: ["--truth", *input.truth] if input.truth else [],
    shell:
        "python -m dstl_hpc merge {output.submission:q} {input.polygons:q}"
        " --sample {input.sample:q} {params.truth:q} --sources {output.sources:q} > {log:q} 2>&1"


if SCORE_TEST:

    rule score_test:
        input:
            truth=f"{DATA}/synth_test_wkt.csv",
            submission=PATHS.submission(),
            images=[PLAN.layout.three_band(i) for i in PLAN.test_ids],
            classes=PATHS.classes(),
        output:
            PATHS.scores("test"),
        log:
            f"{LOGS}/score_test.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            data=lambda wc, input: os.path.dirname(input.truth),
            images=PLAN.test_ids,
            classes=CLASSES,
        shell:
            "python -m dstl_hpc score {input.truth:q} {input.submission:q}"
            " --images {params.images:q} --classes {params.classes:q}"
            " --data-dir {params.data:q} --classes-json {input.classes:q}"
            " --split test --json {output:q} > {log:q} 2>&1"
