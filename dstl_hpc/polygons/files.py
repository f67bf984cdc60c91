"""The files around the polygons: a class's plane of a prediction HDF5 and the polygon
CSVs (``ImageId,ClassType,MultipolygonWKT``). The chosen threshold JSON is read by
``dstl_hpc.scoring.files.read_sweep``."""

from __future__ import annotations

import csv
import math

import numpy as np

from dstl_hpc.atomic import atomic_path
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.stacks import open_h5
from dstl_hpc.sources.dstl import WKT_HEADER, parse_wkt, read_wkt_lines, wkt_where

HEADER = WKT_HEADER


def read_prediction_plane(path, class_type: int) -> tuple[np.ndarray, str]:
    """(probability float32 (H, W) in [0, 1], image id) of one class of a prediction;
    ``open_h5`` checks the file's contract (uint8 planes, one per class, image_id)."""
    with open_h5(path, "prob") as h5:
        classes = [int(c) for c in h5.attrs["classes"]]
        if class_type not in classes:
            raise DstlError(f"{path}: class {class_type} not predicted (classes {classes})")
        plane = h5["prob"][classes.index(class_type)]
        image_id = str(h5.attrs["image_id"])
    return plane.astype(np.float32) / np.float32(255), image_id


def prediction_group(path) -> str:
    """The class group whose model made a prediction file ('' when not recorded)."""
    with open_h5(path, "prob") as h5:
        return str(h5.attrs.get("group", ""))


def check_threshold(t: float, where: str = "--threshold") -> None:
    if not (math.isfinite(t) and 0.0 <= t <= 1.0):
        raise DstlError(f"{where}: threshold {t} is not in [0, 1]")


# ------------------------------------------------------------------- CSVs


def write_rows(path, rows) -> None:
    """Write ``(ImageId, ClassType, WKT)`` rows under the standard header (atomically)."""
    with atomic_path(path, suffix=".csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for image_id, class_type, wkt in rows:
            writer.writerow([image_id, int(class_type), wkt])


def read_rows(path, check: bool = False) -> list[tuple[str, int, str]]:
    """Rows of a polygon CSV (header checked, repeats as ``dataset.read_wkt_lines``), in
    file order. ``check``: every WKT is parsed once, a DstlError naming the file, line,
    image and class when it is unparsable or has NaN / inf coordinates."""
    rows = []
    for lineno, image_id, ct, wkt in read_wkt_lines(path):
        if check:
            parse_wkt(wkt, wkt_where(path, lineno, image_id, ct))
        rows.append((image_id, ct, wkt))
    return rows


def gather(out_path, pieces) -> int:
    """Concatenate polygon CSVs, sorted by (ImageId, ClassType), every WKT checked to parse;
    returns the row count."""
    rows: dict[tuple[str, int], tuple[str, int, str]] = {}
    where: dict[tuple[str, int], str] = {}
    for piece in pieces:
        for image_id, ct, wkt in read_rows(piece, check=True):
            key = (image_id, ct)
            if key in rows:
                raise DstlError(f"{piece}: image {image_id} class {ct} already in {where[key]}")
            rows[key] = (image_id, ct, wkt)
            where[key] = str(piece)
    write_rows(out_path, [rows[k] for k in sorted(rows)])
    return len(rows)
