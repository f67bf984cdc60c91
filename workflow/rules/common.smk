# Ids, groups, per-group and per-class settings, resolved once from the config.
import os
import shlex

from dstl_hpc.errors import DstlError
from dstl_hpc.config.job_memory import check_job_memory
from dstl_hpc.config.plan import Plan
from dstl_hpc.memory import machine_memory

# A local run (--cores only, the main process): its jobs also get at most this
# machine's memory. With --jobs / an executor (a cluster) only their mem_mb counts.
LOCAL_RUN = workflow.resource_settings.nodes is None and workflow.exec_mode.name == "DEFAULT"

try:
    PLAN = Plan(config)
    # each job's memory estimate against its mem_mb (dstl_hpc.config.job_memory)
    check_job_memory(PLAN, machine_memory() if LOCAL_RUN else None)
except DstlError as exc:
    refuse(exc)  # one line, exit 2, before any job

# Every rule runs `python -m dstl_hpc <step>` (the `dstl-hpc` CLI) from this
# checkout, also inside a conda environment made from envs/dstl.yaml.
shell.prefix(
    f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

# Every path under results/ (dstl_hpc.config.results): the rules' patterns and the
# paths of one job alike; R is its root (geo rules still spell some paths from it).
PATHS = PLAN.paths
R = PATHS.root
DATA = str(PLAN.data_dir)
LOGS = PATHS.logs()
GROUPS = list(PLAN.groups)
CLASSES = PLAN.classes


wildcard_constraints:
    image=r"[A-Za-z0-9_]+",
    group="|".join(dict.fromkeys([*PLAN.groups, *PLAN.all_units])),  # + ensemble members
    variant="validation|all",
    k=r"\d+",
    part=r"\d+",


# Synthetic data has test truth: the `all` variant's submission gets a true held-out score.
SCORE_TEST = PLAN.synthetic and "all" in PLAN.variants
# Classes whose threshold is swept on validation (they have class_{k}.json; DSTL).
SWEPT = PLAN.swept_classes


def final_targets():
    if PLAN.geo is not None:
        return geo_targets()
    targets = []
    if "validation" in PLAN.variants:
        targets.append(PATHS.scores("validation"))
    if "all" in PLAN.variants:
        targets.append(PATHS.submission())
    if SCORE_TEST:
        targets.append(PATHS.scores("test"))
    return targets


def data_dir_of(three_band_tif):
    """The data directory above three_band/{id}.tif."""
    return os.path.dirname(os.path.dirname(three_band_tif))


def image_inputs(image):
    layout = PLAN.layout
    return [str(p) for p in layout.image_files(image)]


def res(kind, key, scale_with_attempt=False):
    """A resource of a step ('align', 'masks', 'polygons') from the config."""
    value = PLAN.step_resources(kind)[key]
    if scale_with_attempt:
        return lambda wildcards, attempt: value * attempt
    return value


def group_res(kind, key, scale_with_attempt=False):
    """A resource of a group's train/predict jobs; with scale_with_attempt it grows per
    retry (runtime only: a job retried after its time limit needs time, not memory)."""

    def get(wildcards, attempt):
        value = PLAN.resources(wildcards.group, kind)[key]
        if scale_with_attempt and value is not None:
            return value * attempt
        return value

    return get


def group_opt(kind, key):
    """An optional string resource of a group's jobs ('' when unset: the plugin adds nothing)."""

    def get(wildcards):
        return PLAN.resources(wildcards.group, kind).get(key) or ""

    return get


def train_inputs(wildcards):
    ids = PLAN.fit_ids(wildcards.variant) + PLAN.valid_ids(wildcards.variant)
    return {
        # checkpoint best: the all variant keeps the epochs that validated best
        "select": PLAN.select_from(wildcards.group, wildcards.variant),
        "stats": PATHS.stats(),
        "stacks": PLAN.stack_dirs(ids),
        "masks": PLAN.mask_inputs(ids),
    }


def masks_args(input):
    """`--masks-dir` of a training: the DSTL masks folder, or the geo chips' part folders."""
    if PLAN.geo is not None:
        return list(input.masks)
    return [os.path.dirname(input.masks[0])]


def id_args(flag, ids):
    """A flag and its ids as one list of shell words (quoted by `:q`); [] without ids."""
    return [flag, *ids] if ids else []


def part_stacks(variant, part):
    """The stack files of one predict part (params: the inputs are their align dirs)."""
    return [PLAN.stack_file(i) for i in PLAN.part_ids(variant, int(part))]


def part_stack_dirs(wildcards):
    """The align dirs a predict job reads: its images' and, with ``mosaic``, their
    scene neighbours' (for the context at the images' edges)."""
    ids = PLAN.part_ids(wildcards.variant, int(wildcards.part))
    return PLAN.stack_dirs(ids + PLAN.context_ids(wildcards.group, ids))


def context_args(wildcards, input):
    """`--context-dirs` of a mosaic predict job: where its images' neighbours are."""
    ids = PLAN.part_ids(wildcards.variant, int(wildcards.part))
    if not PLAN.context_ids(wildcards.group, ids):
        return []
    return ["--context-dirs", *input.stacks]


def prediction_dir(variant, group, part):
    """The predict job output holding a group's probabilities for one part."""
    return PATHS.prediction_dir(variant, group, part)


def prediction_files(variant, group, part):
    ids = PLAN.part_ids(variant, int(part))
    return [PATHS.prediction(variant, group, part, i) for i in ids]


def parts(variant):
    return range(PLAN.n_parts(variant))


def polygon_parts(variant):
    return range(PLAN.n_polygon_parts(variant))


def polygon_job_dirs(variant, k, part):
    """The prediction dirs (predict parts) one polygonize job reads: of every group that
    predicts class k (several: polygonize keeps the chosen one's)."""
    ps = PLAN.polygon_predict_parts(variant, int(part))
    return [prediction_dir(variant, g, p) for g in PLAN.candidates(k) for p in ps]


def polygon_job_files(variant, k, part):
    ps = PLAN.polygon_predict_parts(variant, int(part))
    return [f for g in PLAN.candidates(k) for p in ps for f in prediction_files(variant, g, p)]


def threshold_input(wildcards):
    """Class k's chosen sweep when its threshold is swept (Plan decides), else nothing."""
    return PLAN.threshold_inputs(wildcards.k)


def threshold_arg(wildcards):
    return PLAN.threshold_args(wildcards.k)
