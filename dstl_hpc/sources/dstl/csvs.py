"""The CSVs of the DSTL layout: ``grid_sizes.csv`` and the WKT CSVs (training polygons,
sample submission, predictions), read with their header, field count, class and
repeated rows checked; gzip is read wherever a CSV is. WKT strings stay unparsed
here (:mod:`dstl_hpc.sources.dstl.geometry` parses them)."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.sources.dstl.layout import CLASS_TYPES, Layout

log = logging.getLogger("dstl_hpc.sources.dstl")

# csv fields hold whole MULTIPOLYGONs of several MB in the real data.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
WKT_HEADER = ["ImageId", "ClassType", "MultipolygonWKT"]
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 8192  # the head of a CSV that must hold no NUL byte


@contextmanager
def open_csv(path: str | Path):
    """A text handle of a CSV file for ``csv.reader``, gunzipped when the file is gzip
    (by its magic bytes, whatever its name). DstlError for a missing, binary, non-UTF-8
    or corrupt gzip file."""
    path = Path(path)
    check_regular(path)
    with path.open("rb") as probe:
        gz = probe.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as raw:
            if b"\x00" in raw.read(SNIFF_BYTES):
                raise DstlError(f"{path}: not a CSV text file (binary data)")
            raw.seek(0)
            with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
                yield fh
    except UnicodeDecodeError:
        raise DstlError(f"{path}: not a CSV text file (not UTF-8 text)") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DstlError(f"{path}: corrupt gzip file ({exc})") from None


def _read_csv_lines(path: Path, expected: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the data rows of a CSV whose header is ``expected``."""
    with open_csv(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DstlError(f"{path}: empty file, expected header {','.join(expected)}") from None
        header = [h.strip() for h in header]
        # grid_sizes.csv of the competition has an empty first column name.
        if header[1:] != expected[1:] or header[0] not in (expected[0], ""):
            raise DstlError(f"{path}: header {header} is not {expected}")
        rows, last = [], reader.line_num
        try:
            for row in reader:
                lineno, last = last + 1, reader.line_num  # a quoted field may span lines
                if not row:
                    continue
                if len(row) != len(expected):
                    raise DstlError(
                        f"{path}, line {lineno}: expected {len(expected)} fields, got {len(row)}"
                    )
                rows.append((lineno, row))
        except csv.Error as exc:
            raise DstlError(f"{path}, line {reader.line_num}: {exc}") from None
    return rows


def _repeated(path, what: str, first: int, again: int, same: bool, values: str) -> None:
    """``what`` listed on line ``first`` and again on ``again``: the same values are
    dropped with a warning, different ones are a DstlError."""
    if not same:
        raise DstlError(
            f"{path}, lines {first} and {again}: {what} listed twice with different {values}"
        )
    log.warning(
        "%s, lines %d and %d: %s listed twice with the same %s; the repeat is dropped",
        path,
        first,
        again,
        what,
        values,
    )


# ------------------------------------------------------------------ grid sizes


def _grid_values(path: Path, lineno: int, image_id: str, xmax: str, ymin: str):
    try:
        xmax_f, ymin_f = float(xmax), float(ymin)
    except ValueError:
        raise DstlError(f"{path}, line {lineno}: Xmax/Ymin of {image_id} are not numbers") from None
    if not (math.isfinite(xmax_f) and math.isfinite(ymin_f)):
        raise DstlError(f"{path}, line {lineno}: {image_id} has non-finite Xmax={xmax} Ymin={ymin}")
    if not (xmax_f > 0 and ymin_f < 0):
        raise DstlError(
            f"{path}, line {lineno}: {image_id} has Xmax={xmax} Ymin={ymin}; "
            "expected Xmax > 0 and Ymin < 0"
        )
    return xmax_f, ymin_f


def read_grid_sizes(path: str | Path) -> dict[str, tuple[float, float]]:
    """ImageId -> (Xmax, Ymin)."""
    path = Path(path)
    out: dict[str, tuple[float, float]] = {}
    line_of: dict[str, int] = {}
    for lineno, (image_id, xmax, ymin) in _read_csv_lines(path, ["ImageId", "Xmax", "Ymin"]):
        values = _grid_values(path, lineno, image_id, xmax, ymin)
        if image_id in out:
            same = out[image_id] == values
            _repeated(path, f"image {image_id}", line_of[image_id], lineno, same, "Xmax/Ymin")
            continue
        out[image_id], line_of[image_id] = values, lineno
    return out


def grid_for(grid_sizes: dict, image_id: str, grid_path) -> tuple[float, float]:
    """(Xmax, Ymin) of one image of ``read_grid_sizes``; DstlError naming the file when
    it is missing."""
    if image_id not in grid_sizes:
        raise DstlError(f"{grid_path}: image {image_id} is missing")
    return grid_sizes[image_id]


def grid_of(layout: Layout, image_id: str) -> tuple[float, float]:
    return grid_for(read_grid_sizes(layout.grid_sizes), image_id, layout.grid_sizes)


# -------------------------------------------------------------------- WKT CSVs


def _class_type(path: Path, lineno: int, class_type: str) -> int:
    try:
        ct = int(class_type)
    except ValueError:
        raise DstlError(
            f"{path}, line {lineno}: ClassType {class_type!r} is not an integer"
        ) from None
    if ct not in CLASS_TYPES:
        raise DstlError(f"{path}, line {lineno}: ClassType {ct} is not in 1..10")
    return ct


def read_wkt_lines(path: str | Path) -> list[tuple[int, str, int, str]]:
    """(line, ImageId, ClassType, MultipolygonWKT) rows of a train_wkt / submission style
    CSV, in file order; WKT strings unparsed. A repeated (ImageId, ClassType) is dropped
    with a warning when its WKT is the same, else a DstlError."""
    path = Path(path)
    rows = []
    first: dict[tuple[str, int], tuple[int, str]] = {}
    for lineno, (image_id, class_type, wkt) in _read_csv_lines(path, WKT_HEADER):
        ct = _class_type(path, lineno, class_type)
        if (image_id, ct) in first:
            line, seen = first[image_id, ct]
            what = f"image {image_id} class {ct}"
            _repeated(path, what, line, lineno, seen == wkt, "WKT")
            continue
        first[image_id, ct] = (lineno, wkt)
        rows.append((lineno, image_id, ct, wkt))
    return rows


def wkt_where(path, lineno: int, image_id: str, class_type: int) -> str:
    """How errors about one WKT row name it."""
    return f"{path}, line {lineno}, image {image_id}, class {class_type}"


def read_wkt_entries(path: str | Path) -> dict[str, dict[int, tuple[str, str]]]:
    """ImageId -> {ClassType: (MultipolygonWKT, where)}; ``where`` names the file, line,
    image and class for ``parse_wkt``."""
    out: dict[str, dict[int, tuple[str, str]]] = {}
    for lineno, image_id, ct, wkt in read_wkt_lines(path):
        out.setdefault(image_id, {})[ct] = (wkt, wkt_where(path, lineno, image_id, ct))
    return out


def read_wkt_csv(path: str | Path) -> dict[str, dict[int, str]]:
    """ImageId -> {ClassType: MultipolygonWKT} (``parse_wkt`` turns one into a geometry)."""
    return {
        image_id: {ct: wkt for ct, (wkt, _) in by_class.items()}
        for image_id, by_class in read_wkt_entries(path).items()
    }


def read_ids(path: str | Path) -> list[str]:
    """The image ids of a WKT-style CSV, in first-seen order (cheap: no WKT parsing)."""
    path = Path(path)
    seen: dict[str, None] = {}
    with open_csv(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header][:1] != ["ImageId"]:
            raise DstlError(f"{path}: header {header} does not start with ImageId")
        for row in reader:
            if row:
                seen.setdefault(row[0], None)
    return list(seen)


def train_ids(layout: Layout) -> list[str]:
    return read_ids(layout.train_wkt)


def test_ids(layout: Layout) -> list[str]:
    return read_ids(layout.sample_submission)
