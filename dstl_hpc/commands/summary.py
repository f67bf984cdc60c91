"""dstl-hpc summary RESULTS_DIR: a run's scores and where its outputs are.

Quick: only the standard library is imported (no numpy, no torch, no matplotlib).
Every score is labelled with its metric (polygon or pixel Jaccard), its kind (held out
or tuned: ``dstl_hpc.scoring.labels``) and the images it was measured on.

Exit status (EXIT_STATUS, also in ``--help``): 0 the run is complete; 1 it is
incomplete: what there is is printed, then a ``missing:`` or ``problem:`` line for
each file that the variants that ran should have made and that is missing or
unreadable; 2 RESULTS_DIR is missing or not a folder (one line naming it).
``--exit-zero`` exits 0 all the same (the workflow's ``onsuccess:`` handler: a run
may have asked for part of the outputs only).

A variant ran when its ``models/``, ``checkpoints/``, ``predictions/``, ``polygons/``
(or geo: ``geo/``) folder exists; it should have made: validation, the validation
scores; all, the submission (geo: ``polygons.gpkg``) and, with synthetic test truth
(geo: test scenes), the test scores. A folder where no variant ran should have made
them all. The class names come from the run's ``classes.json`` (the DSTL classes
without one), the files' paths from ``ResultsPaths``, the JSONs are read by their
owner, ``dstl_hpc.scoring.files``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from dstl_hpc.config.results import ResultsPaths
from dstl_hpc.errors import DstlError
from dstl_hpc.scoring.files import read_scores, read_sweep
from dstl_hpc.scoring.labels import image_set, score_kinds
from dstl_hpc.sources import classes_of

EXIT_STATUS = (
    "exit status: 0 the run is complete; 1 it is incomplete (what there is is printed, "
    "then a 'missing:' or 'problem:' line for each file missing or unreadable); 2 "
    "RESULTS is missing or not a folder"
)
VARIANTS = ("validation", "all")
# the folders a variant's jobs write under (``ResultsPaths``)
VARIANT_DIRS = ("models", "checkpoints", "predictions", "polygons", "geo")
# the synthetic data's test truth (dstl_hpc.sources.synthetic.TEST_WKT_FILE, under
# the results' data/ folder): the run scores the submission against it
SYNTH_TEST_TRUTH = "data/synth_test_wkt.csv"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EXIT_STATUS
    p.add_argument(
        "results", metavar="RESULTS", help="the workflow's results directory (config key 'results')"
    )
    p.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when the run is incomplete or RESULTS is missing (the "
        "workflow's onsuccess handler: a run may ask for part of the outputs only)",
    )


def ran_variants(res: Path) -> list[str]:
    """The variants whose jobs wrote anything under ``res``."""
    return [v for v in VARIANTS if any((res / d / v).is_dir() for d in VARIANT_DIRS)]


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


def _score_lines(lines: list[str], scores: dict, kinds) -> None:
    """Each labelled mean: "held out mean polygon Jaccard 0.2890 (thresholds ...)"."""
    for s in kinds:
        lines.append(f"  {s.kind} mean {s.metric} {_f(scores.get(s.mean_key))} ({s.thresholds})")


def _validation(
    lines: list[str], scores: dict, thresholds: dict[int, str], names: dict[int, str]
) -> None:
    """The validation scores: the labelled means, then a row per class."""
    # no class has a chosen threshold (class_{k}.json): every threshold is fixed
    kinds = score_kinds(scores, "validation", all_fixed=not thresholds)
    lines.append(f"validation ({image_set(scores.get('images'), 'validation', limit=10)}):")
    _score_lines(lines, scores, kinds)
    per = [scores.get(s.key) or {} for s in kinds]
    lines.append(f"  {'class':>5} {'name':<15}" + "".join(f" {s.metric:>16}" for s in kinds))
    lines.append(f"  {'':>5} {'':<15}" + "".join(f" {s.kind:>16}" for s in kinds) + "  threshold")
    for k, name in names.items():
        cells = "".join(f" {_f(p.get(str(k))):>16}" for p in per)
        lines.append(f"  {k:>5} {name:<15}{cells}  {thresholds.get(k, '-')}")
    lines.append("  ('-': no truth and no prediction, or not scored; threshold '-': fixed")
    lines.append("   in the configuration or not swept; (swept) then the group that predicts it)")


def _test(lines: list[str], test: dict, names: dict[int, str]) -> None:
    kinds = score_kinds(test, "test")
    lines.append(
        f"test ({image_set(test.get('images'), 'test', limit=10)}; synthetic truth; the "
        "'all' variant's submission):"
    )
    _score_lines(lines, test, kinds)
    per = test.get("per_class") or {}
    lines.append(
        f"  {kinds[0].label} per class: "
        + "  ".join(f"{k}:{_f(per.get(str(k)), '.2f')}" for k in names)
    )


def _sources(lines: list[str], sources: dict) -> None:
    truth_ids = sources.get("truth_ids") or []
    if truth_ids:
        lines.append(
            f"training ids in the submission, given their truth polygons: {' '.join(truth_ids)}"
        )


def _submission(paths: ResultsPaths, lines: list[str], problems: list[str], expected) -> None:
    sub = Path(paths.submission())
    if not sub.exists():
        if expected:
            problems.append(f"{sub}: missing (no submission: the 'all' variant did not finish)")
        else:
            lines.append("submission: none (the 'all' variant did not run)")
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
    """(lines to print, problems: what the run should have made and is missing or
    unreadable). ``results`` must be a folder (``run`` checks it)."""
    res = Path(results)
    ran = ran_variants(res)
    expect = set(ran or VARIANTS)  # nothing ran: nothing was made
    if (res / "geo" / "check.json").exists():
        from dstl_hpc.sources.geo.summary import geo_summary

        return geo_summary(res, expect)

    lines = [f"dstl-hpc summary of {res}/ (variants run: {', '.join(ran) or 'none'})"]
    problems: list[str] = []
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
    elif "validation" in expect:
        problems.append(
            f"{scores}: missing (no validation scores: the 'validation' variant did not finish)"
        )
    test = Path(paths.scores("test"))
    if test.exists():
        _json_section(test, lines, problems, lambda ls, d: _test(ls, d, names), read_scores)
    elif "all" in expect and (res / SYNTH_TEST_TRUTH).exists():
        problems.append(f"{test}: missing (no test scores of the submission)")
    sources = Path(paths.submission_sources())
    if sources.exists():
        _json_section(sources, lines, problems, _sources)
    _submission(paths, lines, problems, "all" in expect)
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
    res = Path(args.results)
    if not res.is_dir():
        what = "not a folder" if res.exists() else "no such folder"
        message = f"{res}: {what} (no results of a run to summarise)"
        if args.exit_zero:
            print(f"dstl-hpc summary: {message}", file=sys.stderr)
            return 0
        raise DstlError(message)
    try:
        lines, problems = summarize(res)
    except Exception as exc:  # a file the readers did not foresee: still one line
        lines = [f"dstl-hpc summary of {res}/"]
        problems = [f"summary failed: {type(exc).__name__}: {exc}"]
    for line in lines:
        print(line)
    for problem in problems:
        print(f"missing: {problem}" if ": missing" in problem else f"problem: {problem}")
    if problems:
        print(f"incomplete: {len(problems)} file(s) missing or unreadable under {res}/")
    return 0 if args.exit_zero or not problems else 1
