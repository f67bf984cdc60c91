"""What every data source gives the stages: its classes (id, name, kind).

Stages never ask which source they run on: plots, summary, report and metric take the
class names from a source (``dstl_hpc.sources.open_source``) or from the
``classes.json`` the workflow writes from it (``read_classes``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

KINDS = ("area", "line")


@dataclass(frozen=True)
class ClassInfo:
    """One class: its id (1..N, the plane k-1 of masks), name, and kind (area or
    line-like: thin features the metric and polygon settings treat as lines)."""

    id: int
    name: str
    kind: str = "area"


def classes_json(classes: list[ClassInfo]) -> str:
    return json.dumps([asdict(c) for c in classes])


def read_classes(path) -> list[ClassInfo]:
    """The classes a workflow run wrote to ``classes.json``."""
    path = check_regular(path)
    try:
        rows = json.loads(path.read_text())
        classes = [
            ClassInfo(int(r["id"]), str(r["name"]), str(r.get("kind", "area"))) for r in rows
        ]
    except FileNotFoundError:
        raise DstlError(f"{path}: file not found") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DstlError(f"{path}: not a classes JSON ({exc})") from None
    if not classes:
        raise DstlError(f"{path}: no classes")
    return classes


def class_names(path) -> dict[int, str]:
    return {c.id: c.name for c in read_classes(path)}
