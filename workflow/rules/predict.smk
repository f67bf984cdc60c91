# Stage 4: the model file with the group's prediction settings (predictor.pt), then
# probabilities per image, tile by tile with shift averaging. One job predicts
# `images_per_job` consecutive images (the model is loaded once) into
# predictions/{variant}/{group}/part{part}/{image}.h5.


rule predictor:
    # The trained model (or the group's ensemble members) with the group's prediction
    # settings: changing them reruns this copy and the predictions, never the training;
    # the file is self-contained for a hand-run `dstl-hpc predict`. It records the group
    # and variant it is for; predict refuses a predictor of another one.
    input:
        lambda wc: PLAN.predictor_inputs(wc.variant, wc.group),
    output:
        PATHS.predictor("{variant}", "{group}"),
    log:
        f"{LOGS}/predictor/{{variant}}/{{group}}.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # One JSON object (PredictSettings): tile, shifts, edge margin, mosaic, ensemble,
        # checkpoint.
        settings=lambda wc: PLAN.predict_settings_json(wc.group),
        index=lambda wc: PLAN.index_model_args(wc.group),
    shell:
        "python -m dstl_hpc predictor {input:q} {output:q} --settings {params.settings:q}"
        " {params.index:q} --group {wildcards.group:q} --variant {wildcards.variant:q}"
        " > {log:q} 2>&1"


rule predict:
    input:
        model=PATHS.predictor("{variant}", "{group}"),
        stacks=part_stack_dirs,
    output:
        directory(PATHS.prediction_dir("{variant}", "{group}", "{part}")),
    log:
        f"{LOGS}/predict/{{variant}}/{{group}}/part{{part}}.log",
    conda:
        "../../envs/dstl-cuda.yaml"
    threads: group_res("predict", "cpus_per_task")
    resources:
        gpu=group_res("predict", "gpu"),
        gpu_model=group_opt("predict", "gpu_model"),
        cpus_per_task=group_res("predict", "cpus_per_task"),
        gres=group_opt("predict", "gres"),
        mem_mb=group_res("predict", "mem_mb"),  # not x attempt: a time limit needs time
        runtime=group_res("predict", "runtime", True),
        slurm_extra=group_opt("predict", "slurm_extra"),
    params:
        stacks=lambda wc: part_stacks(wc.variant, wc.part),
        device=lambda wc: PLAN.device(wc.group, "predict"),
        context=context_args,
    shell:
        "python -m dstl_hpc predict {input.model:q} {params.stacks:q} --out-dir {output:q}"
        " --group {wildcards.group:q} --variant {wildcards.variant:q}"
        " {params.context:q} --device {params.device:q} --threads {threads} > {log:q} 2>&1"
