"""Write outputs under a temporary name and rename them when complete.

A crash, a kill or an error in the middle never leaves a half-written file at
the final path: Snakemake (and a user) only ever see complete outputs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dstl_hpc.errors import DstlError

# errno values that mean "this output cannot be written here": the message names
# the output, not the hidden temporary file.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def _write_error(final: Path, exc: OSError) -> DstlError:
    return DstlError(f"{final}: cannot write ({os.strerror(exc.errno)})")


def remove_stale(final: Path) -> None:
    """Remove the temporary files (or directories) that an earlier writer of ``final``
    left beside it when it was killed (SIGKILL, a dead node): ``.{name}.XXXXXXXX{suffix}``."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.[a-z0-9_]{{8}}(\.[A-Za-z0-9.]+)?$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(final.parent):
            if not pattern.match(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    A full disk, a read-only folder or a missing permission becomes a DstlError
    naming ``path``. Temporary files of an earlier writer that was killed (SIGKILL,
    a dead node) are removed first.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{final.name}.",
            suffix=suffix if suffix is not None else ".tmp",
            dir=final.parent,
        )
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _write_error(final, exc) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the final file the usual umask-based mode
    # so that group members can read outputs on a shared cluster filesystem.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise _write_error(final, exc) from None
        raise


def write_bytes(path: str | os.PathLike, data) -> None:
    """Write bytes (or a buffer) atomically: a full disk is a DstlError naming ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
