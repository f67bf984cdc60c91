"""dstl-hpc merge OUT IN.csv ... --sample sample_submission.csv [--classes K ...]"""

from __future__ import annotations

import argparse

from dstl_hpc.argtypes import class_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output submission CSV (gzipped when it ends in .gz)")
    p.add_argument(
        "inputs",
        nargs="+",
        help="polygon CSVs; per class, the last one with a non-empty polygon wins",
    )
    p.add_argument("--sample", required=True, help="sample_submission.csv (row order, ids)")
    p.add_argument(
        "--classes",
        nargs="+",
        type=class_type,
        default=None,
        help="ClassTypes to take from the inputs (others written empty; default all)",
    )
    p.add_argument(
        "--truth",
        default=None,
        help="train_wkt_v4.csv: the sample's images that are training images get their "
        "truth polygons instead of a prediction",
    )
    p.add_argument(
        "--sources",
        default=None,
        help="write a JSON here: the input each class came from, the ids given their truth, "
        "the classes no input has (no_input)",
    )


def run(args) -> int:
    from dstl_hpc.atomic import write_json
    from dstl_hpc.paths import CSV, JSON, guard_outputs
    from dstl_hpc.polygons.submission import merge

    guard_outputs(
        {"OUT": args.out, "--sources": args.sources},
        [*args.inputs, args.sample, args.truth],
        suffixes={"OUT": CSV, "--sources": JSON},
    )
    winners, truth_ids, no_input = merge(
        args.out, args.inputs, args.sample, classes=args.classes, truth_csv=args.truth
    )
    for ct, src in winners.items():
        why = "no input has it" if ct in no_input else "every polygon empty"
        print(f"class {ct:>2}: {src or f'MULTIPOLYGON EMPTY ({why})'}")
    if truth_ids:
        print(f"truth polygons for training ids: {' '.join(truth_ids)}")
    if args.sources:
        summary = {"classes": winners, "truth_ids": truth_ids, "no_input": no_input}
        write_json(args.sources, summary)
    return 0
