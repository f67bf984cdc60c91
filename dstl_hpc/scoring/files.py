"""The JSON files of the scoring steps, one reader and one writer each (contracts.md).

* Threshold sweep (``validation/sweeps/class_{k}/{group}.json``, from ``dstl-hpc
  sweep``) and the chosen one (``validation/thresholds/class_{k}.json``, from
  ``dstl-hpc choose``: the sweep of the chosen group with ``group`` and
  ``group_scores``): ``write_sweep`` / ``read_sweep``.
* Scores (``validation/scores.json``, ``test/scores.json``, from ``dstl-hpc score``):
  ``write_scores`` / ``read_scores``.

A sweep says what it is for (its ``class``, the ``group`` whose predictions were swept,
its ``images``): ``read_sweep``'s ``expect_*`` arguments check them against what the
reading step was asked for, so that every consumer refuses a file meant for another.

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


def _classes(expect) -> list[int]:
    return [int(expect)] if isinstance(expect, int | str) else [int(k) for k in expect]


def _check_purpose(d: dict, path, expect_class, expect_group, expect_images) -> None:
    """What the sweep says it is for against what the step was asked for."""
    try:
        k = int(d["class"])
    except (TypeError, ValueError):
        raise DstlError(f"{path}: class {d['class']!r} is not a ClassType") from None
    if expect_class is not None and k not in (asked := _classes(expect_class)):
        what = "class" if len(asked) == 1 else "classes"
        raise DstlError(
            f"{path}: a threshold sweep of class {k}, asked for {what} {', '.join(map(str, asked))}"
        )
    group = d.get("group")
    if expect_group is not None and group is not None and str(group) != str(expect_group):
        raise DstlError(
            f"{path}: a threshold sweep of group {group!r}'s predictions, asked for group "
            f"{expect_group!r}"
        )
    if expect_images is not None and "images" in d:
        have, asked = set(map(str, d["images"])), set(map(str, expect_images))
        if have != asked:
            odd = sorted(have - asked) or sorted(asked - have)
            side = "not asked for" if have - asked else "missing from it"
            raise DstlError(
                f"{path}: a threshold sweep of {len(have)} image(s), asked for {len(asked)} "
                f"({len(odd)} {side}, e.g. {odd[0]})"
            )


def read_sweep(path, expect_class=None, expect_group=None, expect_images=None) -> dict:
    """A threshold sweep JSON (a group's, or the chosen one with ``group``), checked:
    its keys, a threshold in [0, 1], epsilon and min_area >= 0, a curve of
    ``thresholds`` and ``scores`` of one length; and what it is for against what the
    step was asked for: ``expect_class`` (a ClassType, or the ClassTypes one of which
    it must be), ``expect_group`` (the group whose predictions were swept, when the
    file records one), ``expect_images`` (the images it was swept on, as a set)."""
    d = _read(path, "threshold sweep")
    for key in SWEEP_KEYS:
        if key not in d:
            raise DstlError(f"{path}: no key {key!r} (threshold sweep JSON, see contracts.md)")
    _check_purpose(d, path, expect_class, expect_group, expect_images)
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
