# The geo source (data.source: geo): a team's georeferenced scenes and vector labels.
# Stage 1-2: inputs checked once (geo-check), scenes cut into chips (stacks + masks);
# stages 3-4 are the shared train / predict rules (a chip is an image); stage 5: chips
# stitched into one probability COG per scene, polygons per scene, thresholds and scores
# on labelled scenes, all scenes' polygons merged.

if GEO.data_dir is not None:

    rule geo_synth:
        output:
            table=f"{DATA}/scenes.csv",
            labels=f"{DATA}/labels.gpkg",
            area=f"{DATA}/labelled_area.gpkg",
            manifest=f"{DATA}/manifest.json",
        log:
            f"{LOGS}/geo_synth.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            out=lambda wc, output: os.path.dirname(output.table),
            scenes=GEO.synth["scenes"],
            size=GEO.synth["size"],
            seed=GEO.synth["seed"],
        shell:
            "python -m dstl_hpc geo-synth {params.out:q} --scenes {params.scenes:q}"
            " --size {params.size:q} --seed {params.seed:q} > {log:q} 2>&1"


rule geo_check:
    # Every raster and label file read once, before any chip or training job.
    input:
        geo_inputs(),
    output:
        GEO_CHECK,
    log:
        f"{LOGS}/geo_check.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("masks", "mem_mb", True),
        runtime=res("masks", "runtime", True),
    params:
        spec=json.dumps(GEO.spec(), sort_keys=True),
    shell:
        "python -m dstl_hpc geo-check {output:q} --spec {params.spec:q} > {log:q} 2>&1"


rule geo_chips:
    input:
        GEO_CHECK,
    output:
        stacks=directory(PATHS.stacks("{part}")),
        masks=directory(PATHS.masks("{part}")),
    log:
        f"{LOGS}/geo_chips/part{{part}}.log",
    group:
        "preprocess"
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("align", "mem_mb", True),
        runtime=res("align", "runtime", True),
    params:
        ids=lambda wc: PLAN.align_part_ids(int(wc.part)),
        compression=PLAN.stack_compression,
    shell:
        "python -m dstl_hpc geo-chips {input:q} {params.ids:q} --stacks-out {output.stacks:q}"
        " --masks-out {output.masks:q} --compression {params.compression:q} > {log:q} 2>&1"


rule geo_stitch:
    input:
        check=GEO_CHECK,
        predictions=geo_prediction_dirs,
        stacks=lambda wc: PLAN.stack_dirs(GEO.scene_chip_ids(wc.scene)),
    output:
        PATHS.geo_probabilities("{variant}", "{scene}"),
    log:
        f"{LOGS}/geo_stitch/{{variant}}/{{scene}}.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        predictions=geo_prediction_files,
        stacks=lambda wc: [PLAN.stack_file(i) for i in GEO.scene_chip_ids(wc.scene)],
    shell:
        "python -m dstl_hpc geo-stitch {output:q} {input.check:q} {wildcards.scene:q}"
        " --predictions {params.predictions:q} --stacks {params.stacks:q} > {log:q} 2>&1"


if GEO_SWEEP:

    rule geo_sweep:
        # Thresholds of best pixel IoU on the validation scenes.
        input:
            check=GEO_CHECK,
            cogs=[geo_cog("validation", s) for s in GEO_SCENES["validation"]],
        output:
            GEO_THRESHOLDS[0],
        log:
            f"{LOGS}/geo_sweep.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=res("polygons", "mem_mb", True),
            runtime=res("polygons", "runtime", True),
        params:
            cogs=geo_pairs(
                "--cogs", {s: geo_cog("validation", s) for s in GEO_SCENES["validation"]}
            ),
            thresholds=PLAN.sweep_thresholds(),
        shell:
            "python -m dstl_hpc geo-sweep {output:q} {input.check:q} {params.cogs:q}"
            " --thresholds {params.thresholds:q} > {log:q} 2>&1"


rule geo_vectorize:
    input:
        check=GEO_CHECK,
        cog=PATHS.geo_probabilities("{variant}", "{scene}"),
        thresholds=GEO_THRESHOLDS,
    output:
        PATHS.geo_polygons("{variant}", "{scene}", GEO_EXT),
    log:
        f"{LOGS}/geo_vectorize/{{variant}}/{{scene}}.log",
    group:
        "polygons"
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        thresholds=lambda wc, input: ["--thresholds", *input.thresholds] if input.thresholds else [],
        settings=geo_class_settings(),
        driver=GEO.data["vector_format"],
        crs=["--out-crs", GEO.data["output_crs"]] if GEO.data["output_crs"] else [],
    shell:
        "python -m dstl_hpc geo-vectorize {output:q} {input.check:q} {wildcards.scene:q}"
        " {input.cog:q} {params.thresholds:q} --class-settings {params.settings:q}"
        " --driver {params.driver:q} {params.crs:q} > {log:q} 2>&1"


rule geo_score:
    # validation: the validation scenes (thresholds chosen there: a tuned score);
    # test: the labelled test scenes, predicted by the all variant (held out).
    input:
        check=GEO_CHECK,
        thresholds=GEO_THRESHOLDS,
        cogs=lambda wc: [geo_cog(GEO_SCORED[wc.split], s) for s in GEO.scenes_with(wc.split)],
        polygons=lambda wc: [
            geo_polygons(GEO_SCORED[wc.split], s) for s in GEO.scenes_with(wc.split)
        ],
    output:
        PATHS.scores("{split}"),
    log:
        f"{LOGS}/geo_score/{{split}}.log",
    wildcard_constraints:
        split="validation|test",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        cogs=lambda wc: geo_pairs(
            "--cogs", {s: geo_cog(GEO_SCORED[wc.split], s) for s in GEO.scenes_with(wc.split)}
        ),
        polygons=lambda wc: geo_pairs(
            "--polygons",
            {s: geo_polygons(GEO_SCORED[wc.split], s) for s in GEO.scenes_with(wc.split)},
        ),
        thresholds=lambda wc, input: ["--thresholds", *input.thresholds] if input.thresholds else [],
        settings=geo_class_settings(),
    shell:
        "python -m dstl_hpc geo-score {output:q} {input.check:q} {params.cogs:q}"
        " {params.polygons:q} {params.thresholds:q} --class-settings {params.settings:q}"
        " > {log:q} 2>&1"


rule geo_merge:
    # The workflow's final GIS layer: every predicted scene's polygons in one file.
    input:
        [geo_polygons("all", s) for s in GEO_SCENES["all"]],
    output:
        PATHS.merged_polygons(GEO_EXT),
    log:
        f"{LOGS}/geo_merge.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("polygons", "mem_mb", True),
        runtime=res("polygons", "runtime", True),
    params:
        driver=GEO.data["vector_format"],
        crs=["--crs", GEO.data["output_crs"]] if GEO.data["output_crs"] else [],
    shell:
        "python -m dstl_hpc geo-merge {output:q} {input:q} --driver {params.driver:q}"
        " {params.crs:q} > {log:q} 2>&1"
