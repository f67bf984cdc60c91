"""Where a run's results may go: the ``results`` key read once, before any job.

* ``~`` and ``~/x`` are expanded (``os.path.expanduser``): a YAML value is not seen by
  a shell, and ``results: ~/runs/a`` would otherwise make a folder named ``~``. An
  unknown ``~user`` is refused.
* Refused: the filesystem root and the home directory itself (every run's
  ``stacks/``, ``models/``, ``data/`` and ``logs/`` would land among the user's other
  files), and this checkout or its own folders (``dstl_hpc/``, ``workflow/``,
  ``config/``...): results never mix with the code. A path with line breaks, other
  control characters or braces is refused by ``dstl_hpc.paths.check_path_text``;
  results inside the data directory by ``dstl_hpc.paths.check_apart``;
  ``inputs_outside`` refuses results that hold a geo source's input files.

Cheap: no numpy. Imported by ``Plan`` (the Snakefile).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_path_text, is_within, real

CHECKOUT = Path(__file__).resolve().parents[2]
# The checkout's own folders: code, workflow, configs, docs, tests and tools.
CHECKOUT_FOLDERS = (
    "dstl_hpc",
    "workflow",
    "config",
    "docs",
    "tests",
    "envs",
    "profiles",
    "scripts",
    "benchmarks",
    ".git",
)


def results_dir(value, checkout: Path = CHECKOUT) -> Path:
    """The results directory of a config's ``results`` value: ``~`` expanded, and
    refused when it is the root, the home directory, or the checkout's code."""
    text = given = str(value)
    check_path_text(text, "results")
    if text.startswith("~"):
        text = os.path.expanduser(text)
        if text.startswith("~"):
            raise DstlError(
                f"config results: {given}: {given.split('/')[0]} is not a user of this "
                "machine (only ~ and ~/... are expanded)"
            )
    path = Path(text)
    where = real(path)
    text = given
    why = f" ({where})" if str(where) != given else ""
    if where == Path(where.anchor):
        raise DstlError(
            f"config results: {text}{why} is the filesystem root; set results to a folder of "
            "its own, e.g. results or /scratch/me/dstl-results"
        )
    try:
        home = real(Path.home())
    except (RuntimeError, KeyError):  # no home directory known
        home = None
    if where == home:
        raise DstlError(
            f"config results: {text}{why} is the home directory itself; set results to a "
            "folder of its own, e.g. ~/dstl-results"
        )
    if where == real(checkout):
        raise DstlError(
            f"config results: {text}{why} is this checkout itself; results go in a folder of "
            "their own (the default: results)"
        )
    for name in CHECKOUT_FOLDERS:
        if is_within(path, checkout / name):
            raise DstlError(
                f"config results: {text}{why} lies in this checkout's {name}/ folder; results "
                "never mix with the code (the default: results)"
            )
    return path


def inputs_outside(results: Path, inputs: Iterable[Path], what: str) -> None:
    """No input file of the user's lies inside ``results`` (whose files the workflow
    writes and deletes)."""
    for f in inputs:
        if is_within(f, results):
            raise DstlError(
                f"config {what}: {f} lies inside the results directory {results}, whose files "
                "the workflow writes and deletes: keep your data outside it"
            )
