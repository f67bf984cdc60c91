# Stage 1-2: the DSTL layout (or a synthetic one), aligned stacks, masks, channel stats.

if PLAN.synthetic:

    rule synth:
        output:
            grid=f"{DATA}/grid_sizes.csv",
            wkt=f"{DATA}/train_wkt_v4.csv",
            sample=f"{DATA}/sample_submission.csv",
            truth=f"{DATA}/synth_truth.json",
            test_truth=f"{DATA}/synth_test_wkt.csv",
            images=[p for i in PLAN.all_ids for p in image_inputs(i)],
        log:
            f"{LOGS}/synth.log",
        conda:
            "../../envs/dstl.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            out=lambda wc, output: os.path.dirname(output.grid),
            images=PLAN.synth["images"],
            train=PLAN.synth["train_images"],
            size=PLAN.synth["size"],
            seed=PLAN.synth["seed"],
            mosaic=["--mosaic"] if PLAN.synth["mosaic"] else [],
        shell:
            "python -m dstl_hpc synth {params.out:q} --images {params.images:q}"
            " --train {params.train:q} --size {params.size:q} --seed {params.seed:q}"
            " {params.mosaic:q} > {log:q} 2>&1"


rule align:
    input:
        lambda wc: [f for i in PLAN.align_part_ids(int(wc.part)) for f in image_inputs(i)],
    output:
        directory(PATHS.stacks("{part}")),
    log:
        f"{LOGS}/align/part{{part}}.log",
    group:
        "preprocess"
    conda:
        "../../envs/dstl.yaml"
    threads: res("align", "cpus_per_task")
    resources:
        mem_mb=res("align", "mem_mb", True),
        runtime=res("align", "runtime", True),
        cpus_per_task=res("align", "cpus_per_task"),
    params:
        data=lambda wc, input: data_dir_of(input[0]),
        ids=lambda wc: PLAN.align_part_ids(int(wc.part)),
        compression=PLAN.stack_compression,
    shell:
        "python -m dstl_hpc align {params.data:q} {params.ids:q} --out-dir {output:q}"
        " --compression {params.compression:q} --threads {threads} > {log:q} 2>&1"


rule masks:
    input:
        image=lambda wc: PLAN.layout.three_band(wc.image),
        wkt=PLAN.layout.train_wkt,
        grid=PLAN.layout.grid_sizes,
    output:
        PATHS.mask("{image}"),
    log:
        f"{LOGS}/masks/{{image}}.log",
    group:
        "preprocess"
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=res("masks", "mem_mb", True),
        runtime=res("masks", "runtime", True),
    params:
        data=lambda wc, input: data_dir_of(input.image),
        pre_buffer=[f"{k}={v}" for k, v in sorted(PLAN.pre_buffers().items())],
    shell:
        "python -m dstl_hpc masks {params.data:q} {wildcards.image:q} {output:q}"
        " --pre-buffer {params.pre_buffer:q} > {log:q} 2>&1"
