# Stage 3: one UNet per class group and variant (validation: without the
# validation ids; all: every training image). A GPU job on a cluster.


def train_inputs(wildcards):
    ids = PLAN.fit_ids(wildcards.variant) + PLAN.valid_ids(wildcards.variant)
    return {
        "stats": f"{R}/stats.json",
        "stacks": expand(f"{R}/stacks/{{image}}.h5", image=ids),
        "masks": expand(f"{R}/masks/{{image}}.h5", image=ids),
    }


def id_args(flag, ids):
    return f"{flag} {' '.join(ids)}" if ids else ""


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{R}/models/{{variant}}/{{group}}/model.pt",
        metrics=f"{R}/models/{{variant}}/{{group}}/metrics.csv",
    params:
        # Only this group's settings: changing one group retrains only that group.
        settings=lambda wc: PLAN.train_settings_json(wc.group),
        train_ids=lambda wc: id_args("--train-ids", PLAN.fit_ids(wc.variant)),
        valid_ids=lambda wc: id_args("--valid-ids", PLAN.valid_ids(wc.variant)),
        # Resumable checkpoint: NOT an output, so a retry (time limit, dead node) resumes.
        checkpoint=lambda wc: f"{R}/checkpoints/{wc.variant}/{wc.group}.ckpt",
    log:
        f"{LOGS}/train/{{variant}}/{{group}}.log",
    threads: group_res("train", "cpus_per_task")
    resources:
        gpu=group_res("train", "gpu"),
        cpus_per_task=group_res("train", "cpus_per_task"),
        mem_mb=group_res("train", "mem_mb", True),
        runtime=group_res("train", "runtime", True),
        slurm_extra=slurm_extra("train"),
    shell:
        "dstl-hpc train --out {output.model} --metrics {output.metrics}"
        " --checkpoint {params.checkpoint} --stats {input.stats}"
        " --stacks-dir {R}/stacks --masks-dir {R}/masks"
        " {params.train_ids} {params.valid_ids}"
        " --group {wildcards.group} --variant {wildcards.variant}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"
