"""The workflow's config keys, each defined once, and the JSON schema made from them.

Group settings come from ``dstl_hpc.config.settings.SETTINGS``; the other keys (ids and
parts, resources, per-class polygon settings, the synthetic data) are defined with
their defaults in ``dstl_hpc.config.schema_keys``, the geo source's in
``dstl_hpc.config.schema_geo`` (re-exported here). ``Plan`` reads its defaults from
there (``DEFAULTS``, ``RESOURCE_DEFAULTS``, ``CLASS_DEFAULTS``, ``SYNTHETIC_DEFAULTS``,
``GEO_DEFAULTS``), and

    python -m dstl_hpc.config.schema [--check]

writes (or checks) ``workflow/schemas/config.schema.yaml``, which the workflow
validates the config with and which fills the top-level defaults in
(``dstl_hpc.config.validate``). A test keeps
the checked-in file equal to what this module makes; ``docs/settings.md`` is written
at the same time (``dstl_hpc.config.docs``).

Imported by the Snakefile: stays cheap (no numpy, no torch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dstl_hpc.config.docs import DOCS_FILE, docs_text
from dstl_hpc.config.schema_geo import GEO, GEO_DEFAULTS
from dstl_hpc.config.schema_keys import (
    CLASS_DEFAULTS,
    CLASS_SETTINGS,
    DEFAULTS,
    GROUP_EXTRA_DEFAULTS,
    GROUP_EXTRAS,
    RESOURCE_DEFAULTS,
    RESOURCES,
    SYNTHETIC,
    SYNTHETIC_DEFAULTS,
    TOP_LEVEL,
)
from dstl_hpc.config.settings import settings_schema

# The key tables, importable from here as before the split.
__all__ = [
    "CLASS_DEFAULTS",
    "CLASS_SETTINGS",
    "DEFAULTS",
    "DOCS_FILE",
    "GEO",
    "GEO_DEFAULTS",
    "GROUP_EXTRAS",
    "GROUP_EXTRA_DEFAULTS",
    "RESOURCES",
    "RESOURCE_DEFAULTS",
    "SCHEMA_FILE",
    "SYNTHETIC",
    "SYNTHETIC_DEFAULTS",
    "TOP_LEVEL",
    "config_schema",
    "docs_text",
    "main",
    "schema_text",
]

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "config.schema.yaml"


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
        "# Written by `python -m dstl_hpc.config.schema` from dstl_hpc/config/settings.py,\n"
        "# schema_keys.py and schema_geo.py: edit those, not this file (a test keeps them equal).\n"
    )
    return head + yaml.safe_dump(config_schema(), sort_keys=False, width=100)


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
