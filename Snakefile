# dstl-hpc: the DSTL feature-detection UNet pipeline as a Snakemake workflow.
# Rules only wire files together: every step is a `dstl-hpc` subcommand.
import shlex
import signal

from snakemake.utils import min_version

from dstl_hpc.config.load import workflow_config
from dstl_hpc.config.prepare import refuse
from dstl_hpc.errors import DstlError

min_version("9.0")

# On SLURM, `--signal=USR1@N` (slurm_extra) warns a training job before its time
# limit; the job-side Snakemake must survive it so that the training process can
# checkpoint and exit with its own code (it is then resumed by the retry).
signal.signal(signal.SIGUSR1, lambda signum, frame: None)


# The embedded default (synthetic demo) is used unless a config file gives the data
# and the groups (a --configfile of a run: both are required); such a config replaces
# the demo whole, so the demo's groups never leak into a real run. Without one,
# --config key=value (or a config file of a few keys) changes the demo. Then the
# `data_dir` shortcut, YAML's integer reading of class keys and ids, non-finite
# numbers, and the JSON schema (its defaults filled in): every problem one line, exit 2
# (dstl_hpc/config/load.py; `dstl-hpc check-config FILE` runs the same checks).
try:
    workflow_config(config, workflow.basedir)
except DstlError as exc:
    refuse(exc)


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
    default_target: True
    input:
        final_targets(),
        report_targets(),


onsuccess:
    # --exit-zero: a run may ask for part of the outputs; the summary names what is missing
    shell(f"python -m dstl_hpc summary --exit-zero {shlex.quote(R)}")
