"""The workflow's config keys, each defined once, and the JSON schema made from them.

Group settings come from ``dstl_hpc.config.settings.SETTINGS``; the other keys (ids and
parts, resources, per-class polygon settings, the synthetic data) are defined here
with their defaults. ``Plan`` reads its defaults from here (``DEFAULTS``,
``RESOURCE_DEFAULTS``, ``CLASS_DEFAULTS``, ``SYNTHETIC_DEFAULTS``), and

    python -m dstl_hpc.config.schema [--check]

writes (or checks) ``workflow/schemas/config.schema.yaml``, which Snakemake
validates the config with and which fills the top-level defaults in. A test keeps
the checked-in file equal to what this module makes; ``docs/settings.md`` is written
the same way (``--docs``).

Imported by the Snakefile: stays cheap (no numpy, no torch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dstl_hpc.config.settings import SETTINGS, settings_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DOCS_FILE = ROOT / "docs" / "settings.md"


def _key(schema: dict, default=None, help: str = "") -> dict:
    out = dict(schema)
    if default is not None:
        out["default"] = default
    if help:
        out["description"] = help
    return out


NUMBERS = {"type": "array", "items": {"type": "number", "minimum": 0}}

# Top-level keys with a default (filled in by the schema, read by Plan).
TOP_LEVEL = {
    "results": _key({"type": "string"}, "results", "results directory (relative: to --directory)"),
    "truth_for_training_ids": _key(
        {"type": "boolean"},
        True,
        "test ids that are also training ids get their truth polygons in the submission",
    ),
    "images_per_job": _key(
        {"type": "integer", "minimum": 1}, 1, "images per predict job (model loaded once)"
    ),
    "polygon_images_per_job": _key(
        {"type": ["integer", "null"], "minimum": 1},
        None,
        "images per polygonize job, in whole predict jobs (rounded down); null: images_per_job",
    ),
    "align_images_per_job": _key(
        {"type": "integer", "minimum": 1},
        1,
        "images per align job, written to stacks/part{p}/ (fewer, longer jobs keep the DAG "
        "small for thousands of images)",
    ),
    "stack_compression": _key(
        {"enum": ["gzip", "none"]},
        "gzip",
        "how align stores stacks: gzip (~0.4 of the raw size) or none (the raw size; ~4.7x "
        "faster to read patches from, for training that cannot hold the stacks in memory)",
    ),
    "sweep_thresholds": _key(
        {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "minItems": 1,
        },
        [round(0.05 * i, 2) for i in range(1, 20)],
        "probability thresholds the validation sweep tries",
    ),
    "sweep_epsilons": _key(
        NUMBERS, [], "epsilons tried with every threshold beside each class's own"
    ),
    "sweep_min_areas": _key(
        NUMBERS, [], "min areas tried with every threshold beside each class's own"
    ),
}
DEFAULTS = {k: v.get("default") for k, v in TOP_LEVEL.items()}

SYNTHETIC = {
    "images": _key({"type": "integer", "minimum": 3}, 12, "synthetic images in all"),
    "train_images": _key({"type": "integer", "minimum": 2}, 8, "of which training images"),
    "size": _key(
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 64},
            "minItems": 2,
            "maxItems": 2,
        },
        [384, 384],
        "height and width of the RGB images",
    ),
    "seed": _key({"type": "integer"}, 0, "random seed of the synthetic data"),
    "mosaic": _key(
        {"type": "boolean"},
        False,
        "the tiles of a scene ({scene}_{row}_{col}) continue into each other, as in the real "
        "data (all tiles of one size)",
    ),
}
SYNTHETIC_DEFAULTS = {k: v["default"] for k, v in SYNTHETIC.items()}

RESOURCES = {
    "gpu": _key({"type": "integer", "minimum": 0}, 0, "GPUs per job (SLURM --gpus)"),
    "gpu_model": _key({"type": ["string", "null"]}, None, "GPU type, e.g. a100 (--gpus=MODEL:N)"),
    "gres": _key(
        {
            "type": ["string", "null"],
            "pattern": "^[a-zA-Z0-9_]+(:[a-zA-Z0-9_.]+)?(:[0-9]+[TGM]?)?$",
        },
        None,
        "generic resources for clusters that require --gres, e.g. gpu:1 or gpu:a100:1 "
        "(instead of gpu)",
    ),
    "device": _key(
        {"enum": ["auto", "cpu", "cuda", None]},
        None,
        "--device of train/predict; null: cuda when the job asks for a GPU (stops at once "
        "without CUDA), else auto",
    ),
    "cpus_per_task": _key({"type": "integer", "minimum": 1}, 1, "CPUs per job"),
    "mem_mb": _key({"type": "integer", "minimum": 100}, 2000, "memory per job in MB"),
    "runtime": _key({"type": "integer", "minimum": 1}, 60, "minutes; grows with each retry"),
    "slurm_extra": _key(
        {"type": ["string", "null"]}, None, "extra sbatch options, e.g. --signal=B:USR1@300"
    ),
}
RESOURCE_DEFAULTS = {k: v.get("default") for k, v in RESOURCES.items()}

# Group keys that shape the DAG and what predicts, not a model's training.
GROUP_EXTRAS = {
    "members": _key(
        {"type": "integer", "minimum": 1},
        1,
        "models trained per group and variant (seeds seed, seed + 1, ...), as parallel jobs; "
        "their probabilities are combined before thresholds",
    ),
    "ensemble": _key(
        {"enum": ["mean", "median"]},
        "mean",
        "how members' probabilities are combined: mean, or median (with 3 members: a pixel "
        "is kept when 2 of 3 agree at any threshold, the seed's vote)",
    ),
    "checkpoint": _key(
        {"enum": ["last", "best"]},
        "last",
        "the weights predictions are made with: the last epoch's, or per class the epoch that "
        "validated best (the all variant then trains up to the latest such epoch and keeps them)",
    ),
    "pretrained": _key(
        {"type": ["string", "null"]},
        None,
        "a trained model file (model.pt or predictor.pt of an earlier run) the group predicts "
        "with: nothing is trained (predict-only runs); the file records the bands it was "
        "trained on, and a scene with other bands is refused",
    ),
    "model": _key(
        {"enum": ["unet", *SETTINGS["indices"].choices]},
        "unet",
        "what predicts the group's classes: the UNet, or (no training) an index channel "
        "rescaled to [0, 1] whose threshold the sweep chooses, e.g. ndwi for water (the DSTL "
        "3rd place's trick); put a class in two groups to choose one on validation",
    ),
}
GROUP_EXTRA_DEFAULTS = {k: v.get("default") for k, v in GROUP_EXTRAS.items()}

# The geo source (``data: {source: geo, ...}``): a team's own georeferenced scenes.
_PATHS = {"type": ["string", "array", "null"], "items": {"type": "string"}}
GEO = {
    "scenes": _key(
        {"type": ["string", "null"]},
        None,
        "scene table: a CSV (scene,split,files; files separated by ';') or a YAML list of "
        "{id, split, files}; split: train, validation, test or predict; relative paths are "
        "relative to the table",
    ),
    "scene_globs": _key(
        {
            "type": ["object", "null"],
            "propertyNames": {"enum": ["train", "validation", "test", "predict"]},
            "additionalProperties": {"type": ["string", "array"], "items": {"type": "string"}},
        },
        None,
        "instead of a table: {split: [glob, ...]}, one scene per matched raster, named by its stem",
    ),
    "geo_synthetic": _key(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "scenes": {"type": "integer", "minimum": 3},
                "size": {"type": "integer", "minimum": 128, "maximum": 8192},
                "seed": {"type": "integer"},
            },
        },
        None,
        "instead of scenes: synthetic georeferenced scenes the workflow writes under "
        "<results>/data ({scenes: 4, size: 512, seed: 0}: 2 m UTM rasters, a 4 m JPEG 2000 "
        "second file, labels in a GeoPackage in EPSG:4326)",
    ),
    "bands": _key(
        {
            "type": ["array", "null"],
            "items": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1}},
        },
        None,
        "per file position of a scene: the 1-based bands to use (null: all)",
    ),
    "align": _key(
        {"type": "boolean"},
        False,
        "estimate each scene's file-to-file misregistration (phase correlation + ECC on the "
        "grid's centre, the DSTL alignment) and correct it while cutting chips",
    ),
    "resolution": _key(
        {"type": ["number", "null"], "exclusiveMinimum": 0},
        None,
        "pixel size of the scene grid in the first file's CRS units (null: the finest file's)",
    ),
    "value_range": _key(
        {"type": ["array", "object", "null"]},
        None,
        "for bands that are not uint8/uint16: [lo, hi] mapped to the model's 0..65535 "
        "(or {band position: [lo, hi]})",
    ),
    "labels": _key(
        _PATHS, None, "label vector files (any OGR format and CRS; path::layer picks a layer)"
    ),
    "class_field": _key(
        {"type": ["string", "null"]}, None, "the labels' attribute holding the class"
    ),
    "class_map": _key(
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": ["array", "string", "number"],
                "items": {"type": ["string", "number"]},
            },
        },
        None,
        "class name -> the class_field values that mean it, in class order (class ids 1..N); "
        "other values are ignored and counted",
    ),
    "labelled_area": _key(
        _PATHS,
        None,
        "polygons where labels are complete (null: everywhere); outside them the "
        "loss and the metric ignore pixels",
    ),
    "region_split": _key(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "validation": _PATHS,
                "test": {
                    "type": ["string", "array", "boolean", "null"],
                    "items": {"type": "string"},
                },
                "block": {"type": ["integer", "null"], "minimum": 1},
                "every": {"type": "integer", "minimum": 2},
                "buffer": {"type": "integer", "minimum": 0},
            },
        },
        None,
        "hold out regions of train scenes (one large scene): {validation: polygons, test: "
        "polygons} or {block: N chips, every: 5, test: true} (block (i, j) is validation when "
        "(i + j) % every == 0, test when 1); buffer: px kept between training and held-out chips",
    ),
    "chip_size": _key({"type": "integer", "minimum": 64}, 512, "chip side (px): the DAG's unit"),
    "chip_overlap": _key(
        {"type": "integer", "minimum": 0}, 64, "px shared by neighbouring chips (blended)"
    ),
    "chips_per_job": _key({"type": "integer", "minimum": 1}, 16, "chips per geo-chips job"),
    "thresholds": _key(
        {"type": ["string", "null"]},
        None,
        "without the validation variant (predict-only): an earlier run's "
        "validation/thresholds.json for the classes without a fixed threshold",
    ),
    "output_crs": _key(
        {"type": ["string", "null"]}, None, "CRS of the polygon files (null: each scene's)"
    ),
    "vector_format": _key({"enum": ["GPKG", "GeoJSON"]}, "GPKG", "format of the polygon files"),
}
GEO_DEFAULTS = {k: v.get("default") for k, v in GEO.items()}

CLASS_SETTINGS = {
    "threshold": _key(
        {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        None,
        "probability threshold; null: swept on validation",
    ),
    "epsilon": _key({"type": "number", "minimum": 0}, 2.0, "polygon simplification (pixels)"),
    "min_area": _key({"type": "number", "minimum": 0}, 50.0, "smallest polygon kept (pixels)"),
    "pre_buffer": _key({"type": "number"}, 0.0, "grow training polygons by this many pixels"),
}
CLASS_DEFAULTS = {k: v.get("default") for k, v in CLASS_SETTINGS.items()}


def _strip_defaults(props: dict) -> dict:
    """Properties without ``default``: objects whose defaults are layered by Plan
    (resources and class settings), which the schema must not fill in."""
    return {k: {a: b for a, b in v.items() if a != "default"} for k, v in props.items()}


def _object(props: dict, **extra) -> dict:
    return {"type": "object", "additionalProperties": False, **extra, "properties": props}


def config_schema() -> dict:
    """The JSON schema of the workflow config."""
    group = settings_schema()
    group["properties"].update(
        _strip_defaults(GROUP_EXTRAS),
        train_resources={"$ref": "#/$defs/resources"},
        predict_resources={"$ref": "#/$defs/resources"},
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "dstl-hpc workflow configuration (written by python -m dstl_hpc.config.schema)",
        "type": "object",
        "additionalProperties": False,
        "required": ["data", "results", "defaults", "groups"],
        "$defs": {
            "class_type": {
                "anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": 255},
                    {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
                ]
            },
            "resources": _object(_strip_defaults(RESOURCES)),
            "settings": group,
            "class_settings": _object(_strip_defaults(CLASS_SETTINGS)),
        },
        "properties": {
            "data": _object(
                {
                    "source": {"enum": ["synthetic", "dstl", "geo"]},
                    "dir": {
                        "type": ["string", "null"],
                        "description": "DSTL data directory (source dstl)",
                    },
                    **_strip_defaults(GEO),
                },
                required=["source"],
            ),
            "synthetic": _object(_strip_defaults(SYNTHETIC)),
            "validation_ids": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "held out by the validation variant; null: the seed's five "
                "(dstl) or the last two training ids (synthetic)",
            },
            "variants": {
                "type": "array",
                "items": {"enum": ["validation", "all"]},
                "uniqueItems": True,
                "default": ["validation", "all"],
            },
            "defaults": {"$ref": "#/$defs/settings"},
            "groups": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
                "additionalProperties": {"$ref": "#/$defs/settings"},
            },
            "class_defaults": {"$ref": "#/$defs/class_settings"},
            "classes": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
                "additionalProperties": {"$ref": "#/$defs/class_settings"},
            },
            **TOP_LEVEL,
            "resources": _object(
                {s: {"$ref": "#/$defs/resources"} for s in ("align", "masks", "polygons")}
            ),
        },
    }


def schema_text() -> str:
    import yaml

    head = (
        "# Written by `python -m dstl_hpc.config.schema` from dstl_hpc/config/settings.py and\n"
        "# dstl_hpc/config/schema.py: edit those, not this file (a test keeps them equal).\n"
    )
    return head + yaml.safe_dump(config_schema(), sort_keys=False, width=100)


def _cell(value) -> str:
    import json

    return "required" if value is None else f"`{json.dumps(value)}`"


def docs_text() -> str:
    """docs/settings.md: every key, its default and its meaning."""
    lines = [
        "# Config keys",
        "",
        "Written by `python -m dstl_hpc.config.schema --docs` from `dstl_hpc/config/settings.py` and",
        "`dstl_hpc/config/schema.py`, where each key is defined once.",
        "",
        "## Group settings (`defaults`, `groups.<name>`)",
        "",
        "| key | default | meaning |",
        "| --- | --- | --- |",
    ]
    for k, s in SETTINGS.items():
        default = "`null`" if s.default is None and s.nullable else _cell(s.default)
        lines.append(f"| `{k}` | {default} | {s.help} |")
    tables = (
        ("Top level", TOP_LEVEL),
        ("Ensembles and checkpoints (`defaults`, `groups.<name>`)", GROUP_EXTRAS),
        ("Per class (`class_defaults`, `classes.<k>`)", CLASS_SETTINGS),
        ("Resources (`train_resources`, `predict_resources`, `resources.<step>`)", RESOURCES),
        ("Synthetic data (`synthetic`)", SYNTHETIC),
        ("Geo source (`data`, with `source: geo`)", GEO),
    )
    for title, keys in tables:
        lines += ["", f"## {title}", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for k, v in keys.items():
            default = "`null`" if v.get("default") is None else _cell(v["default"])
            lines.append(f"| `{k}` | {default} | {v.get('description', '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write or check the config schema and key table")
    ap.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = ap.parse_args(argv)
    stale = []
    for path, text in ((SCHEMA_FILE, schema_text()), (DOCS_FILE, docs_text())):
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run python -m dstl_hpc.config.schema",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
