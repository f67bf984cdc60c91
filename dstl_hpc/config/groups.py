"""The config's class groups: defaults and overrides merged, and every value checked
before any job (``Plan.groups``). No heavy imports."""

from __future__ import annotations

import copy

from dstl_hpc.config.schema_keys import GROUP_EXTRA_DEFAULTS, RESOURCE_DEFAULTS
from dstl_hpc.config.settings import merge_settings
from dstl_hpc.errors import DstlError

VARIANTS = ("validation", "all")
RESOURCE_KEYS = ("train_resources", "predict_resources")
# Group keys that are not train settings: resources, and the ensemble's shape.
GROUP_KEYS = (*RESOURCE_KEYS, *GROUP_EXTRA_DEFAULTS)
# A group's extra ensemble members train as units named {group}__m{member}.
MEMBER = "__m"


def gpus_asked(resources: dict) -> int:
    """The GPUs a job's resources ask for: ``gpu``, else the count ending ``gres``
    (gpu:a100:4 -> 4, gpu -> 1), else 0. A train job runs one process per GPU."""
    if resources.get("gpu"):
        return int(resources["gpu"])
    gres = resources.get("gres") or ""
    if "gpu" not in gres:
        return 0
    last = gres.split(":")[-1]
    return int(last) if last.isdigit() else 1


def train_processes(resources: dict) -> int:
    """``train --procs`` of a group's train job: one process per GPU it asks for."""
    return max(1, gpus_asked(resources))


def train_cpus(resources: dict) -> int:
    """CPUs of a group's train job: its ``cpus_per_task`` for each process (GPU)."""
    return resources["cpus_per_task"] * train_processes(resources)


def _check_pretrained(name: str, merged: dict) -> None:
    """A pretrained group predicts with a model file of an earlier run: it must exist,
    and train nothing (no members, no best epochs, not an index model)."""
    from pathlib import Path

    path = Path(merged["pretrained"])
    if not path.is_file():
        raise DstlError(f"config groups.{name}.pretrained: {path}: no such model file")
    if merged["model"] != "unet" or merged["members"] > 1 or merged["checkpoint"] != "last":
        raise DstlError(
            f"config groups.{name}: pretrained predicts with {path}: model, members and "
            "checkpoint do not apply"
        )


def resolve_groups(config) -> dict[str, dict]:
    """Each group's settings: the defaults, then the group's overrides (resources merged
    key by key), every value checked."""
    defaults = config.get("defaults", {})
    groups = {}
    for name, overrides in config["groups"].items():
        merged = copy.deepcopy(defaults)
        for key in RESOURCE_KEYS:
            merged[key] = {
                **RESOURCE_DEFAULTS,
                **defaults.get(key, {}),
                **overrides.get(key, {}),
            }
        merged.update({k: v for k, v in overrides.items() if k not in RESOURCE_KEYS})
        for key, default in GROUP_EXTRA_DEFAULTS.items():
            merged.setdefault(key, default)
        if "classes" not in merged:
            raise DstlError(f"config groups.{name}: 'classes' is required")
        if MEMBER in name:
            raise DstlError(f"config groups.{name}: {MEMBER!r} is kept for ensemble members")
        if merged["model"] != "unet" and (merged["members"] > 1 or merged["checkpoint"] != "last"):
            raise DstlError(
                f"config groups.{name}: model {merged['model']} trains nothing: members "
                "and checkpoint do not apply"
            )
        if merged["pretrained"] is not None:
            _check_pretrained(name, merged)
        if merged["checkpoint"] == "best" and "validation" not in config.get("variants", VARIANTS):
            raise DstlError(
                f"config groups.{name}: checkpoint best chooses epochs on validation; "
                "add the validation variant to variants"
            )
        # Every value checked now, before any job (the training checks them again).
        settings = merge_settings(
            {k: v for k, v in merged.items() if k not in GROUP_KEYS},
            where=f"config groups.{name}",
        )
        for key in RESOURCE_KEYS:
            r = merged[key]
            if r["gpu"] and "gpu" in (r.get("gres") or ""):
                raise DstlError(
                    f"config groups.{name}.{key}: gpu {r['gpu']} and gres {r['gres']!r} "
                    "both ask for GPUs; use one of them"
                )
        procs = gpus_asked(merged["train_resources"])  # train --procs: one per GPU
        if procs > 1 and settings["batch_size"] % procs:
            raise DstlError(
                f"config groups.{name}.train_resources: {procs} GPUs train the group in "
                f"{procs} processes, each an equal share of every batch: batch_size "
                f"{settings['batch_size']} is not divisible by {procs}"
            )
        groups[name] = merged
    return groups
