"""Path safety: the user's data is never written over, and no step writes over its inputs.

Two users of this module:

* the workflow (``Plan``), before any job runs: the results and data paths must be
  usable in a shell command and a Snakemake pattern, and must be kept apart;
* every ``dstl-hpc`` step, before it writes: ``guard_outputs`` refuses an output
  that is one of the step's inputs, lies inside a data directory it reads, has a
  suffix of another kind of file (a forgotten positional argument) or is a directory.

Cheap: no numpy, no h5py at import (the Snakefile imports it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from dstl_hpc.errors import DstlError

# Characters a path of ours may not hold: line breaks and other control characters
# (they break shell commands, logs and CSVs), and braces (Snakemake reads them as
# wildcards in every input and output pattern). Spaces, quotes, ';', '$' and
# backticks are fine: every path reaches the shell quoted.
_FORBIDDEN = {"{": "a '{'", "}": "a '}'"}


def check_path_text(path: str | os.PathLike, what: str) -> None:
    """DstlError when ``path`` holds characters the workflow cannot carry safely."""
    text = os.fspath(path)
    if not text.strip():
        raise DstlError(f"config {what}: empty path")
    for ch in text:
        if ord(ch) < 32 or ord(ch) == 127:
            raise DstlError(
                f"config {what}: path {text!r} holds a control character "
                f"({ch!r}); rename it or pick another directory"
            )
        if ch in _FORBIDDEN:
            raise DstlError(
                f"config {what}: path {text!r} holds {_FORBIDDEN[ch]}, which Snakemake reads "
                "as a wildcard; rename it or pick another directory"
            )


def real(path: str | os.PathLike) -> Path:
    """The absolute path with every symlink resolved (the path need not exist)."""
    return Path(os.path.realpath(os.fspath(path)))


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_regular(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a regular file (symlinks followed); DstlError
    (exit 2) naming it when it is missing or anything else: a FIFO or a device would
    block the reader forever, a directory gives a cryptic error. Every reader of an
    input file (TIFF, HDF5, CSV, JSON, model) calls this before opening it."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DstlError(f"{path}: file not found") from None
    except OSError as exc:
        raise DstlError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise DstlError(f"{path}: {kind}, expected a regular file")
    return path


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` is ``folder`` or lies under it (symlinks resolved)."""
    p, f = real(path), real(folder)
    return p == f or f in p.parents


def check_apart(data_dir: str | os.PathLike, results: str | os.PathLike) -> None:
    """The user's data directory and the results directory must not overlap."""
    if is_within(results, data_dir):
        raise DstlError(
            f"config results: {results} is inside the data directory {data_dir}; the "
            "workflow never writes into your data: set results to a directory outside it "
            "(--config results=...)"
        )
    if is_within(data_dir, results):
        raise DstlError(
            f"config data.dir: {data_dir} is inside the results directory {results}, whose "
            "files the workflow writes and deletes: keep your data outside it"
        )


def _same(a: Path, b: Path) -> bool:
    if real(a) == real(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def guard_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    suffixes: Mapping[str, tuple[str, ...]] | None = None,
    data_dirs: Iterable[str | os.PathLike | None] = (),
) -> None:
    """Refuse (DstlError, exit 2) an output that would harm an input or the user's data.

    ``outputs`` maps a label (the option, e.g. ``OUT.csv`` or ``--json``) to a path
    (None: not written). ``suffixes`` maps labels to the suffixes allowed for that
    output (a CSV step never writes ``B.h5``). ``data_dirs`` are directories the step
    reads as the user's data: nothing is written inside them.
    """
    suffixes = suffixes or {}
    ins = [Path(p) for p in inputs if p is not None]
    dirs = [Path(d) for d in data_dirs if d is not None]
    seen: dict[Path, str] = {}
    for label, value in outputs.items():
        if value is None:
            continue
        out = Path(value)
        allowed = suffixes.get(label)
        if allowed and not out.name.lower().endswith(allowed):
            raise DstlError(
                f"{out}: {label} must end in {' or '.join(allowed)}; refusing to write "
                "another kind of file there (a missing argument?)"
            )
        if out.is_dir():
            raise DstlError(f"{out}: {label} is a directory, expected a file path")
        for src in ins:
            if _same(out, src):
                raise DstlError(f"{out}: {label} is also an input; refusing to write over it")
        for d in dirs:
            if is_within(out, d):
                raise DstlError(
                    f"{out}: {label} is inside the data directory {d}; "
                    "outputs never go into the input data"
                )
        key = real(out)
        if key in seen:
            raise DstlError(f"{out}: both {seen[key]} and {label}; give each output its own path")
        seen[key] = label


CSV = (".csv", ".csv.gz")
H5 = (".h5", ".hdf5")
JSON = (".json",)


def check_out_dir(out_dir) -> Path:
    """``--out-dir`` of a command that writes one file per input: a directory, or
    nothing yet (then made by the command)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DstlError(f"{out_dir}: --out-dir exists and is not a directory")
    return out_dir
