"""dstl-hpc sweep OUT.json --class K --truth CSV --grid-sizes CSV --predictions PRED.h5 ..."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output JSON (class, threshold, fixed, thresholds, scores, ...)")
    p.add_argument("--class", dest="class_type", type=int, required=True, help="ClassType 1..10")
    p.add_argument("--truth", required=True, help="truth polygons CSV (train_wkt_v4.csv)")
    p.add_argument("--grid-sizes", required=True, help="grid_sizes.csv")
    p.add_argument(
        "--predictions", nargs="+", required=True, help="validation prediction HDF5 files"
    )
    p.add_argument(
        "--thresholds",
        nargs="+",
        type=float,
        default=None,
        help="thresholds to try (default 0.05 0.10 ... 0.95)",
    )
    p.add_argument("--epsilon", type=float, default=2.0, help="approxPolyDP tolerance in px")
    p.add_argument("--min-area", type=float, default=50.0, help="minimum area in px^2")
    p.add_argument(
        "--fixed", type=float, default=None, help="use this threshold (the curve is still computed)"
    )


def run(args) -> int:
    from dstl_hpc.atomic import write_json
    from dstl_hpc.errors import DstlError
    from dstl_hpc.sweep import sweep

    if not 1 <= args.class_type <= 10:
        raise DstlError(f"--class {args.class_type}: not a ClassType in 1..10")
    if args.epsilon < 0 or args.min_area < 0:
        raise DstlError("--epsilon and --min-area must be >= 0")
    result = sweep(
        args.class_type,
        args.truth,
        args.grid_sizes,
        args.predictions,
        thresholds=args.thresholds,
        epsilon=args.epsilon,
        min_area=args.min_area,
        fixed=args.fixed,
    )
    write_json(args.out, result)
    for t, s in zip(result["thresholds"], result["scores"], strict=True):
        mark = " <-" if abs(t - result["threshold"]) < 1e-9 else ""
        print(f"{t:5.2f}  {'   -  ' if s is None else f'{s:.4f}'}{mark}")
    print(
        f"class {args.class_type}: threshold {result['threshold']:.3f}"
        + (" (fixed)" if result["fixed"] else "")
        + (f" - {result['note']}" if result.get("note") else "")
    )
    return 0
