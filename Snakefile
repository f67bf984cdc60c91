# dstl-hpc: the DSTL feature-detection UNet pipeline as a Snakemake workflow.
# Rules only wire files together: every step is a `dstl-hpc` subcommand.
import os
import shlex
import signal

import yaml
from snakemake.utils import min_version, update_config, validate

from dstl_hpc.config.prepare import prepare_config, refuse
from dstl_hpc.errors import DstlError

min_version("9.0")

# On SLURM, `--signal=USR1@N` (slurm_extra) warns a training job before its time
# limit; the job-side Snakemake must survive it so that the training process can
# checkpoint and exit with its own code (it is then resumed by the retry).
signal.signal(signal.SIGUSR1, lambda signum, frame: None)


# The embedded default (synthetic demo) is used unless a config file gives the data
# and the groups (a --configfile of a run: both are required); such a config replaces
# the demo whole, so the demo's groups never leak into a real run. Without one,
# --config key=value (or a config file of a few keys) changes the demo.
FROM_CONFIGFILE = "data" in config or "groups" in config
if not FROM_CONFIGFILE:
    with open(os.path.join(workflow.basedir, "config", "config.yaml")) as fh:
        _default = yaml.safe_load(fh)
    update_config(_default, config)  # --config key=value still wins
    config.clear()
    config.update(_default)

# `--config data_dir=...` (the shortcut for data.dir, refused on synthetic data),
# YAML's integer reading of unquoted class keys and ids, non-finite numbers.
try:
    prepare_config(config, FROM_CONFIGFILE)
except DstlError as exc:
    refuse(exc)

validate(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))


include: "workflow/rules/common.smk"
include: "workflow/rules/classes.smk"


if PLAN.geo is None:

    include: "workflow/rules/data.smk"


else:

    include: "workflow/rules/geo_common.smk"
    include: "workflow/rules/geo.smk"


include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"


if PLAN.geo is None:

    include: "workflow/rules/polygons.smk"


include: "workflow/rules/report.smk"


localrules:
    all,
    predictor,


rule all:
    input:
        final_targets(),
        report_targets(),
    default_target: True


onsuccess:
    shell(f"python -m dstl_hpc summary {shlex.quote(R)}")
