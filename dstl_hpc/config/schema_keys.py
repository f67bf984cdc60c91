"""The workflow's config keys beside the group settings, each defined once with its default.

Top-level keys, the synthetic data, resources, the group keys that shape the DAG and
what predicts (``GROUP_EXTRAS``), and the per-class polygon settings; the geo source's
keys are ``dstl_hpc.config.schema_geo``. Each table maps a key to its JSON schema with
``default`` and ``description`` (``key``); ``*_DEFAULTS`` are its defaults, which ``Plan``
reads. ``dstl_hpc.config.schema`` makes the JSON schema from these tables.

Imported by the Snakefile: stays cheap (no numpy, no torch).
"""

from __future__ import annotations

from dstl_hpc.config.settings import SETTINGS


def key(schema: dict, default=None, help: str = "") -> dict:
    out = dict(schema)
    if default is not None:
        out["default"] = default
    if help:
        out["description"] = help
    return out


NUMBERS = {"type": "array", "items": {"type": "number", "minimum": 0}}

# Top-level keys with a default (filled in by the schema, read by Plan).
TOP_LEVEL = {
    "results": key({"type": "string"}, "results", "results directory (relative: to --directory)"),
    "truth_for_training_ids": key(
        {"type": "boolean"},
        True,
        "test ids that are also training ids get their truth polygons in the submission",
    ),
    "images_per_job": key(
        {"type": "integer", "minimum": 1}, 1, "images per predict job (model loaded once)"
    ),
    "polygon_images_per_job": key(
        {"type": ["integer", "null"], "minimum": 1},
        None,
        "images per polygonize job, in whole predict jobs (rounded down); null: images_per_job",
    ),
    "align_images_per_job": key(
        {"type": "integer", "minimum": 1},
        1,
        "images per align job, written to stacks/part{p}/ (fewer, longer jobs keep the DAG "
        "small for thousands of images)",
    ),
    "stack_compression": key(
        {"enum": ["blosc-lz4hc", "gzip", "none"]},
        "blosc-lz4hc",
        "how align and geo-chips store stacks: blosc-lz4hc (Blosc LZ4HC + byte shuffle, "
        "~0.44 of the raw size: ~1.1x gzip's files, ~4x faster to read patches from), gzip "
        "(level 1 + shuffle, ~0.40 of the raw size) or none (the raw size); stacks written "
        "in any of them read",
    ),
    "sweep_thresholds": key(
        {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "minItems": 1,
            "uniqueItems": True,
        },
        [round(0.05 * i, 2) for i in range(1, 20)],
        "probability thresholds the validation sweep tries (0.05..0.95: a best threshold at "
        "an end of the grid is logged as a warning by the sweep)",
    ),
    "unmodelled_classes": key(
        {"type": "array", "items": {"$ref": "#/$defs/class_type"}, "uniqueItems": True},
        [],
        "classes no group predicts, on purpose: their submission column is empty (a class "
        "in no group and not listed here is refused; not for a geo source, whose classes "
        "are those of data.class_map)",
    ),
    "sweep_epsilons": key(
        NUMBERS, [], "epsilons tried with every threshold beside each class's own"
    ),
    "sweep_min_areas": key(
        NUMBERS, [], "min areas tried with every threshold beside each class's own"
    ),
}
DEFAULTS = {k: v.get("default") for k, v in TOP_LEVEL.items()}

SYNTHETIC = {
    "images": key({"type": "integer", "minimum": 3}, 12, "synthetic images in all"),
    "train_images": key({"type": "integer", "minimum": 2}, 8, "of which training images"),
    "size": key(
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 64},
            "minItems": 2,
            "maxItems": 2,
        },
        [384, 384],
        "height and width of the first RGB image; the others get 0-2 more rows and 0-3 more "
        "columns, as the real images differ slightly",
    ),
    "seed": key({"type": "integer"}, 0, "random seed of the synthetic data"),
    "mosaic": key(
        {"type": "boolean"},
        False,
        "the tiles of a scene ({scene}_{row}_{col}) continue into each other, as in the real "
        "data (all tiles of one size)",
    ),
}
SYNTHETIC_DEFAULTS = {k: v["default"] for k, v in SYNTHETIC.items()}

RESOURCES = {
    "gpu": key(
        {"type": "integer", "minimum": 0},
        0,
        "GPUs per job (SLURM --gpus); a train job of N > 1 GPUs (or a gres count of N) trains "
        "the group on N DDP processes, one per GPU (batch_size divisible by N; with device "
        "cpu: N gloo processes); predict uses one",
    ),
    "gpu_model": key({"type": ["string", "null"]}, None, "GPU type, e.g. a100 (--gpus=MODEL:N)"),
    "gres": key(
        {
            "type": ["string", "null"],
            "pattern": "^[a-zA-Z0-9_]+(:[a-zA-Z0-9_.]+)?(:[0-9]+[TGM]?)?$",
        },
        None,
        "generic resources for clusters that require --gres, e.g. gpu:1 or gpu:a100:1 "
        "(instead of gpu)",
    ),
    "device": key(
        {"enum": ["auto", "cpu", "cuda", None]},
        None,
        "--device of train/predict; null: cuda when the job asks for a GPU (stops at once "
        "without CUDA), else auto",
    ),
    "cpus_per_task": key(
        {"type": "integer", "minimum": 1},
        1,
        "CPUs per job; a train job of N GPUs asks N times this (per GPU: its process's "
        "threads and DataLoader workers)",
    ),
    "mem_mb": key({"type": "integer", "minimum": 100}, 2000, "memory per job in MB"),
    "runtime": key({"type": "integer", "minimum": 1}, 60, "minutes; grows with each retry"),
    "slurm_extra": key(
        {"type": ["string", "null"]}, None, "extra sbatch options, e.g. --signal=B:USR1@300"
    ),
}
RESOURCE_DEFAULTS = {k: v.get("default") for k, v in RESOURCES.items()}

# Group keys that shape the DAG and what predicts, not a model's training.
GROUP_EXTRAS = {
    "members": key(
        {"type": "integer", "minimum": 1},
        1,
        "models trained per group and variant (seeds seed, seed + 1, ...), as parallel jobs; "
        "their probabilities are combined before thresholds",
    ),
    "ensemble": key(
        {"enum": ["mean", "median"]},
        "mean",
        "how members' probabilities are combined: mean, or median (with 3 members: a pixel "
        "is kept when 2 of 3 agree at any threshold, the seed's vote)",
    ),
    "checkpoint": key(
        {"enum": ["last", "best"]},
        "last",
        "the weights predictions are made with: the last epoch's, or per class the epoch that "
        "validated best (the all variant then trains up to the latest such epoch and keeps them)",
    ),
    "pretrained": key(
        {"type": ["string", "null"]},
        None,
        "a trained model file (model.pt or predictor.pt of an earlier run) the group predicts "
        "with: nothing is trained (predict-only runs); the file records the bands it was "
        "trained on, and a scene with other bands is refused",
    ),
    "model": key(
        {"enum": ["unet", *SETTINGS["indices"].choices]},
        "unet",
        "what predicts the group's classes: the UNet, or (no training) an index channel "
        "rescaled to [0, 1] whose threshold the sweep chooses, e.g. ndwi for water (the DSTL "
        "3rd place's trick); put a class in two groups to choose one on validation",
    ),
}
GROUP_EXTRA_DEFAULTS = {k: v.get("default") for k, v in GROUP_EXTRAS.items()}

CLASS_SETTINGS = {
    "threshold": key(
        {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        None,
        "probability threshold; null: swept on validation",
    ),
    "epsilon": key({"type": "number", "minimum": 0}, 2.0, "polygon simplification (pixels)"),
    "min_area": key({"type": "number", "minimum": 0}, 50.0, "smallest polygon kept (pixels)"),
    "pre_buffer": key({"type": "number"}, 0.0, "grow training polygons by this many pixels"),
}
CLASS_DEFAULTS = {k: v.get("default") for k, v in CLASS_SETTINGS.items()}
