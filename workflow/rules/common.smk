# Ids, groups, per-group and per-class settings, resolved once from the config.
import json

from dstl_hpc.errors import DstlError
from dstl_hpc.plan import Plan

# `--config data_dir=...` is the documented shortcut for data.dir.
if "data_dir" in config:
    config["data"]["dir"] = config.pop("data_dir")

try:
    PLAN = Plan(config)
except DstlError as exc:
    raise WorkflowError(f"dstl-hpc: {exc}") from None

R = str(PLAN.results)
DATA = str(PLAN.data_dir)
LOGS = f"{R}/logs"
GROUPS = list(PLAN.groups)
CLASSES = PLAN.classes


wildcard_constraints:
    image=r"[A-Za-z0-9_]+",
    group="|".join(GROUPS),
    variant="validation|all",
    k=r"\d+",


def final_targets():
    targets = []
    if "validation" in PLAN.variants:
        targets.append(f"{R}/validation/scores.json")
    if "all" in PLAN.variants:
        targets.append(f"{R}/submission.csv.gz")
    return targets


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
    """A resource of a group's train/predict jobs; runtime and memory grow per retry."""

    def get(wildcards, attempt):
        value = PLAN.resources(wildcards.group, kind)[key]
        if scale_with_attempt and value is not None:
            return value * attempt
        return value

    return get


def slurm_extra(kind):
    def get(wildcards):
        return PLAN.resources(wildcards.group, kind).get("slurm_extra") or ""

    return get


def gpu_model(kind):
    def get(wildcards):
        return PLAN.resources(wildcards.group, kind).get("gpu_model") or ""

    return get
