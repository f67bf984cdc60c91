# Stage 4: probabilities per image, tile by tile with shift averaging.


rule predict:
    input:
        model=f"{R}/models/{{variant}}/{{group}}/model.pt",
        stack=f"{R}/stacks/{{image}}.h5",
    output:
        f"{R}/predictions/{{variant}}/{{group}}/{{image}}.h5",
    params:
        options=lambda wc: PLAN.predict_options(wc.group),
    log:
        f"{LOGS}/predict/{{variant}}/{{group}}/{{image}}.log",
    threads: group_res("predict", "cpus_per_task")
    resources:
        gpu=group_res("predict", "gpu"),
        cpus_per_task=group_res("predict", "cpus_per_task"),
        mem_mb=group_res("predict", "mem_mb", True),
        runtime=group_res("predict", "runtime", True),
        slurm_extra=slurm_extra("predict"),
    conda:
        "../../envs/dstl.yaml"
    shell:
        "python -m dstl_hpc predict {input.model} {input.stack} {output} {params.options}"
        " --threads {threads} > {log} 2>&1"
