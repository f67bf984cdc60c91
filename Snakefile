# dstl-hpc: the DSTL feature-detection UNet pipeline as a Snakemake workflow.
# Rules only wire files together: every step is a `dstl-hpc` subcommand.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/polygons.smk"


localrules:
    all,


rule all:
    input:
        final_targets(),
    default_target: True
