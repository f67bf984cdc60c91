# Stage 5: thresholds swept on validation, polygons per class and image,
# per-class CSVs, validation scores and the merged submission.


rule sweep:
    input:
        predictions=lambda wc: [prediction_dir("validation", wc.k, p) for p in parts("validation")],
        truth=PLAN.layout.train_wkt,
        grid=PLAN.layout.grid_sizes,
    output:
        f"{R}/validation/thresholds/class_{{k}}.json",
    params:
        files=lambda wc: [f for p in parts("validation") for f in prediction_files("validation", wc.k, p)],
        thresholds=" ".join(str(t) for t in PLAN.sweep_thresholds()),
        epsilon=lambda wc: PLAN.class_settings(int(wc.k))["epsilon"],
        min_area=lambda wc: PLAN.class_settings(int(wc.k))["min_area"],
    log:
        f"{LOGS}/sweep/class_{{k}}.log",
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc sweep {output} --class {wildcards.k} --truth {input.truth}"
        " --grid-sizes {input.grid} --predictions {params.files}"
        " --thresholds {params.thresholds} --epsilon {params.epsilon}"
        " --min-area {params.min_area} > {log} 2>&1"


rule polygonize:
    input:
        prediction=lambda wc: prediction_dir(wc.variant, wc.k, wc.part),
        grid=PLAN.layout.grid_sizes,
        threshold=threshold_input,
    output:
        f"{R}/polygons/{{variant}}/class_{{k}}/part{{part}}.csv",
    params:
        files=lambda wc: prediction_files(wc.variant, wc.k, wc.part),
        threshold=threshold_arg,
        epsilon=lambda wc: PLAN.class_settings(int(wc.k))["epsilon"],
        min_area=lambda wc: PLAN.class_settings(int(wc.k))["min_area"],
    log:
        f"{LOGS}/polygonize/{{variant}}/class_{{k}}/part{{part}}.log",
    group:
        "polygons"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc polygonize {params.files} {output} --class {wildcards.k}"
        " --grid-sizes {input.grid} {params.threshold}"
        " --epsilon {params.epsilon} --min-area {params.min_area} > {log} 2>&1"


rule gather:
    input:
        lambda wc: [
            f"{R}/polygons/{wc.variant}/class_{wc.k}/part{p}.csv" for p in parts(wc.variant)
        ],
    output:
        f"{R}/polygons/{{variant}}/class_{{k}}.csv",
    log:
        f"{LOGS}/gather/{{variant}}/class_{{k}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc gather {output} {input} > {log} 2>&1"


rule score:
    input:
        truth=PLAN.layout.train_wkt,
        polygons=expand(f"{R}/polygons/validation/class_{{k}}.csv", k=CLASSES),
        images=[PLAN.layout.three_band(i) for i in PLAN.validation_ids],
    output:
        f"{R}/validation/scores.json",
    params:
        data=lambda wc, input: os.path.dirname(input.truth),
        images=" ".join(PLAN.validation_ids),
        classes=" ".join(str(k) for k in CLASSES),
    log:
        f"{LOGS}/score.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc score {input.truth} {input.polygons} --images {params.images}"
        " --classes {params.classes} --data-dir {params.data} --json {output} > {log} 2>&1"


rule merge:
    input:
        polygons=expand(f"{R}/polygons/all/class_{{k}}.csv", k=CLASSES),
        sample=PLAN.layout.sample_submission,
    output:
        f"{R}/submission.csv.gz",
    log:
        f"{LOGS}/merge.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc merge {output} {input.polygons} --sample {input.sample} > {log} 2>&1"
