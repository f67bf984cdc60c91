"""dstl-hpc summary RESULTS_DIR: a run's validation scores and where its outputs are.

Quick and never failing: only the standard library is imported (no numpy, no
torch, no matplotlib), a missing or unreadable file is reported as such, and the
exit status is 0 unless ``--strict`` is given. Called from the workflow's
``onsuccess:`` handler. The class names come from the run's ``classes.json`` (the
DSTL classes without one), the files' paths from ``ResultsPaths``, the JSONs are read
by their owner, ``dstl_hpc.scoring.files``.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from dstl_hpc.config.results import ResultsPaths
from dstl_hpc.errors import DstlError
from dstl_hpc.scoring.files import read_scores, read_sweep
from dstl_hpc.sources import classes_of


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="the workflow's results directory (config key 'results')")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when a file is missing or unreadable"
    )


def _f(v, spec: str = ".4f") -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return "-"
    return format(v, spec)


def _count_rows(path: Path) -> int:
    """Data rows of a (gzipped) CSV: newlines minus the header (WKT has no newlines)."""
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    last = b"\n"
    with opener(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        n += 1
    return max(n - 1, 0)


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


# a file or its JSON is not as expected
UNREADABLE = (OSError, ValueError, AttributeError, KeyError, TypeError, DstlError)


def _thresholds(
    paths: ResultsPaths, names: dict[int, str], problems: list[str], choices: list[str]
) -> dict[int, str]:
    """ClassType -> "threshold (swept) group" of the chosen sweep JSONs there are; a
    line in ``choices`` for each class whose group was chosen among several."""
    thresholds: dict[int, str] = {}
    for k in names:
        p = Path(paths.thresholds(k))
        if not p.exists():
            continue
        try:
            d = read_sweep(p)
            group = f" {d['group']}" if d.get("group") else ""
            thresholds[k] = f"{_f(d.get('threshold'), 'g')} (swept){group}"
            _choice(k, names[k], d, choices)
        except UNREADABLE as exc:
            problems.append(f"{p}: unreadable ({type(exc).__name__})")
    return thresholds


def _choice(k: int, name: str, sweep: dict, choices: list[str]) -> None:
    """The line of a class whose group was chosen among several candidates."""
    cands = sweep.get("group_scores") or {}
    if len(cands) < 2:
        return
    chosen = sweep["group"]
    others = [g for g in cands if g != chosen]
    runner = max(others, key=lambda g: -1.0 if cands[g] is None else cands[g])
    gain = None if None in (cands[chosen], cands[runner]) else cands[chosen] - cands[runner]
    rest = ", ".join(f"{g} {_f(cands[g])}" for g in others)
    choices.append(
        f"  class {k} {name}: {chosen} {_f(cands[chosen])} chosen over {rest}"
        f" (gain {_f(gain, '+.4f')})"
    )


def _json_section(path: Path, lines: list[str], problems: list[str], add, read=None) -> None:
    """``add(lines, obj)`` with the JSON of ``path`` (read with ``read``, by default
    plain JSON), or a problem when it is unreadable; lines added before the problem stay."""
    try:
        add(lines, read(path) if read else json.loads(path.read_text()))
    except UNREADABLE as exc:
        problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")


def _means(lines: list[str], scores: dict, tuned) -> None:
    if tuned is not None:
        lines.append(
            f"  held-out mean polygon Jaccard {_f(scores.get('mean'))} (thresholds "
            "chosen on the other validation images)"
        )
        lines.append(
            f"  tuned mean polygon Jaccard {_f(scores.get('mean_tuned'))} (thresholds "
            "chosen on the scored images: optimistic)"
        )
        lines.append(f"  mean pixel Jaccard {_f(scores.get('pixel_mean'))}")
    else:
        lines.append(
            f"  mean polygon Jaccard {_f(scores.get('mean'))}"
            f"   mean pixel Jaccard {_f(scores.get('pixel_mean'))}"
        )


def _validation(
    lines: list[str], scores: dict, thresholds: dict[int, str], names: dict[int, str]
) -> None:
    """The validation scores: means, then a row per class."""
    per = scores.get("per_class") or {}
    pix = scores.get("pixel_per_class") or {}
    images = scores.get("images") or []
    lines.append(
        f"validation ({len(images)} image{'s' if len(images) != 1 else ''}"
        f"{': ' + ' '.join(images) if images else ''}):"
    )
    tuned = scores.get("per_class_tuned")
    _means(lines, scores, tuned)
    tuned = tuned or {}
    head = f"  {'class':>5} {'name':<15} {'polygon':>8} {'pixel':>8}"
    lines.append(head + (f" {'tuned':>8}" if tuned else "") + "  threshold, group")
    for k, name in names.items():
        lines.append(
            f"  {k:>5} {name:<15} {_f(per.get(str(k))):>8}"
            f" {_f(pix.get(str(k))):>8}"
            + (f" {_f(tuned.get(str(k))):>8}" if tuned else "")
            + f"  {thresholds.get(k, '-')}"
        )
    lines.append("  ('-': no truth and no prediction, or not scored; threshold '-': fixed")
    lines.append("   in the configuration or not swept)")


def _test(lines: list[str], test: dict, names: dict[int, str]) -> None:
    per = test.get("per_class") or {}
    lines.append(
        f"test ({len(test.get('images') or [])} images, synthetic truth; the 'all' "
        f"variant's submission): mean polygon Jaccard {_f(test.get('mean'))}"
    )
    lines.append("  " + "  ".join(f"{k}:{_f(per.get(str(k)), '.2f')}" for k in names))


def _sources(lines: list[str], sources: dict) -> None:
    truth_ids = sources.get("truth_ids") or []
    if truth_ids:
        lines.append(
            f"training ids in the submission, given their truth polygons: {' '.join(truth_ids)}"
        )


def _submission(paths: ResultsPaths, lines: list[str], problems: list[str]) -> None:
    sub = Path(paths.submission())
    if not sub.exists():
        problems.append(f"{sub}: missing (no submission: variant 'all' not run?)")
        return
    try:
        rows = _count_rows(sub)
        lines.append(f"submission: {sub.resolve()} ({rows} rows, {_size(sub)})")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        problems.append(f"{sub}: unreadable ({type(exc).__name__}: {exc})")


def _report(paths: ResultsPaths, lines: list[str]) -> None:
    report = Path(paths.report())
    if report.is_dir():
        n = sum(1 for p in report.rglob("*") if p.is_file() and not p.name.startswith("."))
        lines.append(
            f"report figures: {report.resolve()}/ ({n} files); "
            "`snakemake --report report.zip` bundles them"
        )


def summarize(results) -> tuple[list[str], list[str]]:
    """(lines to print, problems: what is missing or unreadable)."""
    res = Path(results)
    lines = [f"dstl-hpc summary of {res}/"]
    problems: list[str] = []
    if not res.is_dir():
        return lines, [f"{res}: no such directory"]
    if (res / "geo" / "check.json").exists():
        from dstl_hpc.sources.geo.summary import geo_summary

        return geo_summary(res)

    paths = ResultsPaths(res)
    names = _names(paths, problems)
    choices: list[str] = []
    thresholds = _thresholds(paths, names, problems, choices)
    scores = Path(paths.scores("validation"))
    if scores.exists():
        _json_section(
            scores,
            lines,
            problems,
            lambda ls, d: _validation(ls, d, thresholds, names),
            read=read_scores,
        )
        if choices:
            lines.append("groups chosen on validation (held-out polygon Jaccard):")
            lines += choices
    else:
        problems.append(f"{scores}: missing (no validation scores: variant 'validation' not run?)")
    test = Path(paths.scores("test"))
    if test.exists():
        _json_section(test, lines, problems, lambda ls, d: _test(ls, d, names), read_scores)
    sources = Path(paths.submission_sources())
    if sources.exists():
        _json_section(sources, lines, problems, _sources)
    _submission(paths, lines, problems)
    _report(paths, lines)
    return lines, problems


def _names(paths: ResultsPaths, problems: list[str]) -> dict[int, str]:
    """Class id -> name of the run's classes.json (the DSTL classes without one)."""
    path = Path(paths.classes())
    try:
        classes = classes_of(path if path.exists() else None)
    except UNREADABLE as exc:
        problems.append(f"{path}: unreadable ({type(exc).__name__})")
        classes = classes_of(None)
    return {c.id: c.name for c in classes}


def run(args) -> int:
    try:
        lines, problems = summarize(args.results)
    except Exception as exc:  # never fail hard: this runs after a successful workflow
        lines, problems = (
            [f"dstl-hpc summary of {args.results}/"],
            [f"summary failed: {type(exc).__name__}: {exc}"],
        )
    for line in lines:
        print(line)
    for problem in problems:
        print(f"missing: {problem}" if "missing" in problem else f"problem: {problem}")
    return 1 if (args.strict and problems) else 0
