"""The JSON files of the scoring steps, one reader and one writer each (contracts.md).

* Threshold sweep (``validation/sweeps/class_{k}/{group}.json``, from ``dstl-hpc
  sweep``) and the chosen one (``validation/thresholds/class_{k}.json``, from
  ``dstl-hpc choose``: the sweep of the chosen group with ``group`` and
  ``group_scores``): ``write_sweep`` / ``read_sweep``.
* Scores (``validation/scores.json``, ``test/scores.json``, from ``dstl-hpc score``):
  ``write_scores`` / ``read_scores``.

Only the standard library is imported: ``dstl-hpc summary`` reads them too.
"""

from __future__ import annotations

import json
import math

from dstl_hpc.atomic import write_json
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

SWEEP_KEYS = ("class", "threshold", "epsilon", "min_area", "thresholds", "scores")
SCORES_KEYS = ("per_class", "mean")


def _read(path, kind: str) -> dict:
    path = check_regular(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise DstlError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise DstlError(f"{path}: not a {kind} JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise DstlError(f"{path}: not a {kind} JSON (an object is expected)")
    return obj


def _non_negative(value, key: str, path) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DstlError(f"{path}: {key} {value!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise DstlError(f"{path}: {key} {v} is not a finite number >= 0")
    return v


def read_sweep(path) -> dict:
    """A threshold sweep JSON (a group's, or the chosen one with ``group``), checked:
    its keys, a threshold in [0, 1], epsilon and min_area >= 0, a curve of
    ``thresholds`` and ``scores`` of one length."""
    d = _read(path, "threshold sweep")
    for key in SWEEP_KEYS:
        if key not in d:
            raise DstlError(f"{path}: no key {key!r} (threshold sweep JSON, see contracts.md)")
    t = _non_negative(d["threshold"], "threshold", path)
    if t > 1:
        raise DstlError(f"{path}: threshold {t} is not in [0, 1]")
    for key in ("epsilon", "min_area"):
        _non_negative(d[key], key, path)
    if len(d["thresholds"]) != len(d["scores"]):
        raise DstlError(f"{path}: 'thresholds' and 'scores' differ in length")
    return d


def write_sweep(path, sweep: dict) -> None:
    write_json(path, sweep)


def read_scores(path) -> dict:
    """A scores JSON (``dstl-hpc score``), its keys checked."""
    d = _read(path, "scores")
    for key in SCORES_KEYS:
        if key not in d:
            raise DstlError(f"{path}: no key {key!r} (scores JSON, see contracts.md)")
    return d


def write_scores(path, scores: dict) -> None:
    write_json(path, scores)
