"""dstl-hpc gather OUT.csv PIECE.csv ..."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output CSV (ImageId,ClassType,MultipolygonWKT)")
    p.add_argument("pieces", nargs="+", help="polygon CSVs to concatenate (dstl-hpc polygonize)")


def run(args) -> int:
    from dstl_hpc.paths import CSV, guard_outputs
    from dstl_hpc.polygons import gather

    guard_outputs({"OUT.csv": args.out}, args.pieces, suffixes={"OUT.csv": CSV})

    n = gather(args.out, args.pieces)
    log.info("%s: %d row(s) from %d piece(s)", args.out, n, len(args.pieces))
    return 0
