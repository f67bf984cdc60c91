"""dstl-hpc polygonize PRED.h5 [PRED.h5 ...] OUT.csv --class K --grid-sizes CSV (--threshold T | --threshold-json F)"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.argtypes import class_type, non_negative_float, probability
from dstl_hpc.config.schema_keys import CLASS_DEFAULTS

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "predictions",
        nargs="+",
        metavar="PRED.h5",
        help="prediction HDF5 files (dataset 'prob', from dstl-hpc predict)",
    )
    p.add_argument(
        "out", help="output CSV: header + one row per image: ImageId,ClassType,MultipolygonWKT"
    )
    p.add_argument(
        "--class", dest="class_type", type=class_type, required=True, help="ClassType 1..10"
    )
    p.add_argument("--grid-sizes", required=True, help="grid_sizes.csv (ImageId, Xmax, Ymin)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--threshold", type=probability, help="probability threshold (mask = prob >= T)")
    g.add_argument(
        "--threshold-json",
        help="the chosen sweep JSON (validation/thresholds/class_{k}.json, from dstl-hpc "
        "choose or sweep): its threshold, epsilon and min_area (they replace --epsilon and "
        "--min-area), and its group's predictions only; its class must be --class",
    )
    p.add_argument(
        "--epsilon",
        type=non_negative_float,
        default=CLASS_DEFAULTS["epsilon"],
        help=f"approxPolyDP tolerance in px (default {CLASS_DEFAULTS['epsilon']:g})",
    )
    p.add_argument(
        "--min-area",
        type=non_negative_float,
        default=CLASS_DEFAULTS["min_area"],
        help="drop outer contours and holes below this area in px^2 "
        f"(default {CLASS_DEFAULTS['min_area']:g})",
    )


def run(args) -> int:
    from dstl_hpc.paths import CSV, guard_outputs
    from dstl_hpc.polygons import (
        check_threshold,
        prob_to_grid_polygons,
        read_prediction_plane,
        to_wkt,
        write_rows,
    )
    from dstl_hpc.scoring.files import read_sweep
    from dstl_hpc.sources.dstl import grid_for, read_grid_sizes

    inputs = [*args.predictions, args.grid_sizes, args.threshold_json]
    guard_outputs({"OUT.csv": args.out}, inputs, suffixes={"OUT.csv": CSV})
    if args.threshold is not None:
        check_threshold(args.threshold)
        threshold = args.threshold
    else:
        chosen = read_sweep(args.threshold_json, expect_class=args.class_type)
        threshold = float(chosen["threshold"])
        args.epsilon = float(chosen["epsilon"])
        args.min_area = float(chosen["min_area"])
        if chosen.get("group"):  # the class is in several groups: the chosen one's files
            args.predictions = _of_group(args.predictions, chosen["group"], args.threshold_json)
    grids = read_grid_sizes(args.grid_sizes)
    rows = []
    for path in args.predictions:
        prob, image_id = read_prediction_plane(path, args.class_type)
        xmax, ymin = grid_for(grids, image_id, args.grid_sizes)
        geom = prob_to_grid_polygons(prob, threshold, xmax, ymin, args.epsilon, args.min_area)
        rows.append((image_id, args.class_type, to_wkt(geom)))
        log.info(
            "%s class %s: %d polygon(s) at threshold %.3f",
            image_id,
            args.class_type,
            len(geom.geoms),
            threshold,
        )
    write_rows(args.out, rows)
    return 0


def _of_group(paths, group: str, where) -> list:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.polygons import prediction_group

    kept = [p for p in paths if prediction_group(p) == group]
    if not kept:
        raise DstlError(f"{where}: chose group {group!r}, but no prediction given is of it")
    return kept
