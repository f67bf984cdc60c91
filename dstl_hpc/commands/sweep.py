"""dstl-hpc sweep OUT.json --class K --truth CSV --grid-sizes CSV --predictions PRED.h5 ...
[--group G]"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.argtypes import class_type, non_negative_float, probability
from dstl_hpc.config.schema_keys import CLASS_DEFAULTS

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output JSON (class, threshold, thresholds, scores, ...)")
    p.add_argument(
        "--class", dest="class_type", type=class_type, required=True, help="ClassType 1..10"
    )
    p.add_argument("--truth", required=True, help="truth polygons CSV (train_wkt_v4.csv)")
    p.add_argument("--grid-sizes", required=True, help="grid_sizes.csv")
    p.add_argument(
        "--predictions", nargs="+", required=True, help="validation prediction HDF5 files"
    )
    p.add_argument(
        "--group",
        default=None,
        help="the group whose predictions these are (recorded as the sweep's group; each "
        "prediction's group attribute must be it; the workflow gives it)",
    )
    p.add_argument(
        "--thresholds",
        nargs="+",
        type=probability,
        default=None,
        help="thresholds to try (default 0.05 0.10 ... 0.95)",
    )
    p.add_argument(
        "--epsilon",
        type=non_negative_float,
        default=CLASS_DEFAULTS["epsilon"],
        help="approxPolyDP tolerance in px",
    )
    p.add_argument(
        "--min-area",
        type=non_negative_float,
        default=CLASS_DEFAULTS["min_area"],
        help="minimum area in px^2",
    )
    p.add_argument(
        "--epsilons",
        nargs="+",
        type=non_negative_float,
        default=[],
        help="further epsilons to try beside --epsilon (a small grid; the best candidate wins)",
    )
    p.add_argument(
        "--min-areas",
        nargs="+",
        type=non_negative_float,
        default=[],
        help="further min areas to try beside --min-area",
    )


def run(args) -> int:
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.scoring.files import write_sweep
    from dstl_hpc.scoring.sweep import sweep

    inputs = [args.truth, args.grid_sizes, *args.predictions]
    guard_outputs({"OUT.json": args.out}, inputs, suffixes={"OUT.json": JSON})
    if args.group is not None:
        _check_group(args.predictions, args.group)
    result = sweep(
        args.class_type,
        args.truth,
        args.grid_sizes,
        args.predictions,
        thresholds=args.thresholds,
        epsilon=args.epsilon,
        min_area=args.min_area,
        epsilons=args.epsilons,
        min_areas=args.min_areas,
    )
    if args.group is not None:
        result["group"] = args.group
    write_sweep(args.out, result)
    for t, s in zip(result["thresholds"], result["scores"], strict=True):
        mark = " <-" if abs(t - result["threshold"]) < 1e-9 else ""
        print(f"{t:5.2f}  {'   -  ' if s is None else f'{s:.4f}'}{mark}")
    print(
        f"class {args.class_type}: threshold {result['threshold']:.3f}"
        f" epsilon {result['epsilon']:g} min_area {result['min_area']:g}"
        + (f" - {result['note']}" if result.get("note") else "")
    )
    return 0


def _check_group(predictions, group: str) -> None:
    """Every prediction made by ``group``'s predictor (the ``group`` attribute it records)."""
    from dstl_hpc.errors import DstlError
    from dstl_hpc.polygons import prediction_group

    for path in predictions:
        made_by = prediction_group(path)
        if made_by != group:
            raise DstlError(
                f"{path}: a prediction of group {made_by!r}, the sweep is asked for group {group!r}"
            )
