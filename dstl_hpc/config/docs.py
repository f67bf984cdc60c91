"""``docs/settings.md``: every config key, its default and its meaning, in tables.

Made from ``dstl_hpc.config.settings`` (the group settings), ``dstl_hpc.config.schema_keys``
and ``dstl_hpc.config.schema_geo``; ``python -m dstl_hpc.config.schema`` writes (or
checks) it beside the JSON schema.
"""

from __future__ import annotations

from pathlib import Path

from dstl_hpc.config.schema_geo import GEO
from dstl_hpc.config.schema_keys import (
    CLASS_SETTINGS,
    GROUP_EXTRAS,
    RESOURCES,
    SYNTHETIC,
    TOP_LEVEL,
)
from dstl_hpc.config.settings import SETTINGS

DOCS_FILE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def _cell(value) -> str:
    import json

    return "required" if value is None else f"`{json.dumps(value)}`"


def docs_text() -> str:
    """docs/settings.md: every key, its default and its meaning."""
    lines = [
        "# Config keys",
        "",
        "Written by `python -m dstl_hpc.config.schema` from `dstl_hpc/config/settings.py`,",
        "`dstl_hpc/config/schema_keys.py` and `dstl_hpc/config/schema_geo.py`, where each key is",
        "defined once.",
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
