"""Merge per-class polygon CSVs into one submission in the sample's row order.

Rule (the reference solution's): per class, the *last* input that holds any
non-empty polygon of that class wins, for all images; rows follow
``sample_submission.csv`` (ImageId, ClassType); images or classes no input
covers are ``MULTIPOLYGON EMPTY``. Every WKT written is checked to parse and be
valid (repaired and re-written otherwise). ``OUT`` ending in ``.gz`` is gzipped.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

from dstl_hpc.atomic import atomic_path
from dstl_hpc.dataset import CLASS_TYPES
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import EMPTY_WKT, HEADER, read_rows, to_wkt

log = logging.getLogger(__name__)


def is_empty_wkt(wkt: str) -> bool:
    """True for ``MULTIPOLYGON EMPTY`` and friends (no coordinates at all)."""
    return "(" not in wkt


def read_sample_order(path) -> list[tuple[str, int]]:
    """(ImageId, ClassType) rows of a sample submission, in file order."""
    order = [(image_id, ct) for image_id, ct, _ in read_rows(path)]
    if not order:
        raise DstlError(f"{path}: no rows")
    return order


def valid_wkt(wkt: str, where: str) -> str:
    """``wkt`` itself when it is a valid MULTIPOLYGON, else a repaired rewrite."""
    import shapely

    from dstl_hpc.dataset import parse_wkt

    if is_empty_wkt(wkt):
        return EMPTY_WKT
    try:
        geom = shapely.from_wkt(wkt)
    except Exception:  # GEOSException: let parse_wkt word the error
        geom = None
    if geom is not None and geom.geom_type == "MultiPolygon" and geom.is_valid:
        return wkt
    log.warning("%s: invalid or non-MULTIPOLYGON WKT repaired", where)
    return to_wkt(parse_wkt(wkt, where))


def merge(out_path, inputs, sample_csv, classes: list[int] | None = None) -> dict[int, str | None]:
    """Write the merged submission; returns ClassType -> the input that won (or None)."""
    order = read_sample_order(sample_csv)
    sample_ids = {i for i, _ in order}
    classes = list(CLASS_TYPES) if not classes else classes
    for k in classes:
        if k not in CLASS_TYPES:
            raise DstlError(f"--classes: {k} is not a ClassType in 1..10")

    # Per class, the last input with a non-empty polygon of that class.
    winner: dict[int, tuple[str, dict[str, str]]] = {}
    for path in inputs:
        rows = read_rows(path)
        by_class: dict[int, dict[str, str]] = {}
        unknown = set()
        for image_id, ct, wkt in rows:
            if image_id not in sample_ids:
                unknown.add(image_id)
                continue
            by_class.setdefault(ct, {})[image_id] = wkt
        if unknown:
            log.warning(
                "%s: %d image id(s) not in %s ignored (e.g. %s)",
                path,
                len(unknown),
                sample_csv,
                sorted(unknown)[0],
            )
        for ct, wkts in by_class.items():
            if ct in classes and any(not is_empty_wkt(w) for w in wkts.values()):
                winner[ct] = (str(path), wkts)

    out_path = Path(out_path)
    gz = out_path.name.endswith(".gz")
    with atomic_path(out_path, suffix=".tmp") as tmp:
        fh = gzip.open(tmp, "wt", newline="") if gz else tmp.open("w", newline="")
        with fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            for image_id, ct in order:
                wkt = EMPTY_WKT
                if ct in winner:
                    src, wkts = winner[ct]
                    if image_id in wkts:
                        wkt = valid_wkt(wkts[image_id], f"{src}, image {image_id}, class {ct}")
                writer.writerow([image_id, ct, wkt])
    for ct in classes:
        log.info("class %s: %s", ct, winner[ct][0] if ct in winner else "empty (no input)")
    return {ct: (winner[ct][0] if ct in winner else None) for ct in classes}
