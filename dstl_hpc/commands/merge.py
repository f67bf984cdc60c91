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


def run(args) -> int:
    from dstl_hpc.paths import CSV, guard_outputs
    from dstl_hpc.submission import merge

    guard_outputs({"OUT": args.out}, [*args.inputs, args.sample], suffixes={"OUT": CSV})

    winners = merge(args.out, args.inputs, args.sample, classes=args.classes)
    for ct, src in winners.items():
        print(f"class {ct:>2}: {src or 'MULTIPOLYGON EMPTY (no input)'}")
    return 0
