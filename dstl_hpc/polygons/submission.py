"""Merge per-class polygon CSVs into one submission in the sample's row order.

Rule (the reference solution's): per class, the *last* input that holds any
non-empty polygon of that class wins, for all images; rows follow
``sample_submission.csv`` (ImageId, ClassType); images or classes no input
covers are ``MULTIPOLYGON EMPTY``. Every WKT read for the output (the sample's
images, the chosen classes) is checked to parse, with finite coordinates (a
DstlError naming the file, line, image and class otherwise), and to be valid
(repaired, re-written and reported otherwise). Inputs may be gzipped; ``OUT``
ending in ``.gz`` is gzipped.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
from pathlib import Path

from dstl_hpc.atomic import atomic_path
from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import EMPTY_WKT, HEADER, read_rows, to_wkt
from dstl_hpc.sources.dstl import (
    CLASS_TYPES,
    as_multipolygon,
    read_wkt_entries,
    read_wkt_lines,
    wkt_geometry,
    wkt_where,
)

log = logging.getLogger(__name__)

_EMPTY = re.compile(r"\s*(MULTIPOLYGON|POLYGON|GEOMETRYCOLLECTION)\s+EMPTY\s*", re.IGNORECASE)


def is_empty_wkt(wkt: str) -> bool:
    """True for ``MULTIPOLYGON EMPTY`` and friends; other text without coordinates is
    not empty (it is unparsable, and ``valid_wkt`` says so)."""
    return _EMPTY.fullmatch(wkt) is not None


def read_sample_order(path) -> list[tuple[str, int]]:
    """(ImageId, ClassType) rows of a sample submission, in file order."""
    order = [(image_id, ct) for image_id, ct, _ in read_rows(path)]
    if not order:
        raise DstlError(f"{path}: no rows")
    return order


def valid_wkt(wkt: str, where: str) -> str:
    """``wkt`` itself when it is a valid MULTIPOLYGON, else a repaired rewrite; DstlError
    naming ``where`` when it is unparsable or has NaN / inf coordinates."""
    if is_empty_wkt(wkt):
        return EMPTY_WKT
    geom = wkt_geometry(wkt, where)
    if geom.geom_type == "MultiPolygon" and geom.is_valid:
        return wkt
    log.warning("%s: invalid or non-MULTIPOLYGON WKT repaired", where)
    return to_wkt(as_multipolygon(geom, where))


def _read_input(path, sample_csv, sample_ids: set, classes) -> dict[int, dict[str, str]]:
    """ClassType -> {ImageId: checked WKT} of one input's rows of the sample's images and
    the chosen classes (``valid_wkt``: DstlError naming the file, line, image, class);
    a chosen class with rows but none of the sample's images maps to {}."""
    by_class: dict[int, dict[str, str]] = {}
    unknown = set()
    for lineno, image_id, ct, wkt in read_wkt_lines(path):
        if image_id not in sample_ids:
            unknown.add(image_id)
        if ct not in classes:
            continue
        wkts = by_class.setdefault(ct, {})  # the class is covered (if not the sample's images)
        if image_id in sample_ids:
            wkts[image_id] = valid_wkt(wkt, wkt_where(path, lineno, image_id, ct))
    if unknown:
        log.warning(
            "%s: %d image id(s) not in %s ignored (e.g. %s)",
            path,
            len(unknown),
            sample_csv,
            sorted(unknown)[0],
        )
    return by_class


def truth_rows(truth_csv, sample_ids: set) -> dict[str, dict[int, str]]:
    """ImageId -> {ClassType: checked WKT} of the sample's images that have truth polygons
    (the training ids among the test ids: 4 of the 429 in DSTL)."""
    out: dict[str, dict[int, str]] = {}
    for image_id, by_class in read_wkt_entries(truth_csv).items():
        if image_id in sample_ids:
            out[image_id] = {ct: valid_wkt(wkt, where) for ct, (wkt, where) in by_class.items()}
    return out


def merge(
    out_path, inputs, sample_csv, classes: list[int] | None = None, truth_csv=None
) -> tuple[dict[int, str | None], list[str], list[int]]:
    """Write the merged submission; returns (ClassType -> the input that won or None,
    the ids written with their truth polygons, the classes no input has a row of:
    their column is empty, each warned about naming the class).

    With ``truth_csv`` (train_wkt_v4.csv), the sample's images that are training images
    get their truth polygons for every class instead of a prediction.
    """
    order = read_sample_order(sample_csv)
    sample_ids = {i for i, _ in order}
    classes = list(CLASS_TYPES) if not classes else classes
    for k in classes:
        if k not in CLASS_TYPES:
            raise DstlError(f"--classes: {k} is not a ClassType in 1..10")

    # Per class, the last input with a non-empty polygon of that class.
    winner: dict[int, tuple[str, dict[str, str]]] = {}
    covered: set[int] = set()  # the classes some input has rows of
    for path in inputs:
        for ct, wkts in _read_input(path, sample_csv, sample_ids, classes).items():
            covered.add(ct)
            if any(not is_empty_wkt(w) for w in wkts.values()):
                winner[ct] = (str(path), wkts)

    truth = truth_rows(truth_csv, sample_ids) if truth_csv else {}
    if truth:
        log.info(
            "%d training id(s) written with their truth polygons: %s", len(truth), sorted(truth)
        )
    out_path = Path(out_path)
    gz = out_path.name.endswith(".gz")
    with atomic_path(out_path, suffix=".tmp") as tmp:
        fh = gzip.open(tmp, "wt", newline="") if gz else tmp.open("w", newline="")
        with fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            for image_id, ct in order:
                if image_id in truth:
                    wkt = truth[image_id].get(ct, EMPTY_WKT)
                else:
                    wkt = (winner[ct][1] if ct in winner else {}).get(image_id, EMPTY_WKT)
                writer.writerow([image_id, ct, wkt])
    no_input = [ct for ct in classes if ct not in covered]
    for ct in classes:
        if ct in winner:
            log.info("class %s: %s", ct, winner[ct][0])
        elif ct in covered:
            log.info("class %s: empty (every input's polygons of it are empty)", ct)
        else:
            log.warning(
                "class %s: no input has a row of it (no polygons file for it): its column "
                "of %s is MULTIPOLYGON EMPTY for every image",
                ct,
                out_path,
            )
    winners = {ct: (winner[ct][0] if ct in winner else None) for ct in classes}
    return winners, sorted(truth), no_input
