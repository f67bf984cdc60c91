"""dstl-hpc stats OUT.json STACK.h5 ..."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output JSON: {channels, mean, std, images, pixels}")
    p.add_argument("stacks", nargs="+", help="training stacks (HDF5 from 'dstl-hpc align')")


def run(args) -> int:
    from dstl_hpc.atomic import write_json
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.prepare.stats import channel_stats

    guard_outputs({"OUT.json": args.out}, args.stacks, suffixes={"OUT.json": JSON})

    write_json(args.out, channel_stats(args.stacks, args.out))
    return 0
