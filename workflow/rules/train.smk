# Stage 3: one UNet per class group and variant (validation: without the
# validation ids; all: every training image). A GPU job on a cluster. Its inputs: the
# channel stats (of the training stacks less the validation ones, for both variants:
# the held-out images stay unseen), the stacks and masks of its images.
# A group's train job of N GPUs: N DDP processes (train --procs), N x cpus_per_task CPUs.
from dstl_hpc.config.groups import train_cpus, train_processes


rule stats:
    input:
        PLAN.stack_dirs(PLAN.stats_ids),
    output:
        PATHS.stats(),
    log:
        f"{LOGS}/stats.log",
    conda:
        "../../envs/dstl.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        stacks=[PLAN.stack_file(i) for i in PLAN.stats_ids],
    shell:
        "python -m dstl_hpc stats {output:q} {params.stacks:q} > {log:q} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        model=PATHS.model("{variant}", "{group}"),
        metrics=PATHS.metrics("{variant}", "{group}"),
    log:
        f"{LOGS}/train/{{variant}}/{{group}}.log",
    conda:
        "../../envs/dstl-cuda.yaml"
    threads: lambda wc: train_cpus(PLAN.resources(wc.group, "train"))
    resources:
        gpu=group_res("train", "gpu"),
        gpu_model=group_opt("train", "gpu_model"),
        cpus_per_task=lambda wc: train_cpus(PLAN.resources(wc.group, "train")),
        # DDP processes (a resource, not a param: another GPU count retrains nothing)
        procs=lambda wc: train_processes(PLAN.resources(wc.group, "train")),
        gres=group_opt("train", "gres"),
        mem_mb=group_res("train", "mem_mb"),  # not x attempt: a time limit needs time
        runtime=group_res("train", "runtime", True),
        slurm_extra=group_opt("train", "slurm_extra"),
    params:
        # Only this group's settings: changing one group retrains only that group.
        settings=lambda wc: PLAN.train_settings_json(wc.group),
        train_ids=lambda wc: id_args("--train-ids", PLAN.fit_ids(wc.variant)),
        valid_ids=lambda wc: id_args("--valid-ids", PLAN.valid_ids(wc.variant)),
        # Resumable checkpoint: NOT an output, so a retry (time limit, dead node) resumes.
        checkpoint=lambda wc: PATHS.checkpoint(wc.variant, wc.group),
        stacks=lambda wc, input: list(input.stacks),
        masks=lambda wc, input: masks_args(input),
        device=lambda wc: PLAN.device(wc.group, "train"),
        select=lambda wc, input: ["--select-from", *input.select] if input.select else [],
    shell:
        # exec: the SLURM warning signal then reaches the training itself, whose
        # exit code (138 after checkpointing) Snakemake reports, not the shell.
        "exec python -m dstl_hpc train --out {output.model:q} --metrics {output.metrics:q}"
        " --checkpoint {params.checkpoint:q} --stats {input.stats:q}"
        " --stacks-dir {params.stacks:q} --masks-dir {params.masks:q}"
        " {params.train_ids:q} {params.valid_ids:q}"
        " --group {wildcards.group:q} --variant {wildcards.variant:q}"
        " --settings {params.settings:q} {params.select:q} --device {params.device:q}"
        " --threads {threads} --procs {resources.procs}"
        " > {log:q} 2>&1"
