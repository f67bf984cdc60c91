"""dstl-hpc choose OUT.json --class K GROUP=SWEEP.json [GROUP=SWEEP.json ...]"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.argtypes import class_type

log = logging.getLogger("dstl_hpc.scoring.choose")


def _pair(text: str) -> tuple[str, str]:
    group, sep, path = text.partition("=")
    if not sep or not group or not path:
        raise argparse.ArgumentTypeError(f"expected GROUP=SWEEP.json, got {text!r}")
    return group, path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT.json", help="the chosen sweep, with group and candidates")
    p.add_argument(
        "--class", dest="class_type", type=class_type, required=True, help="ClassType 1..10"
    )
    p.add_argument(
        "candidates",
        nargs="+",
        type=_pair,
        metavar="GROUP=SWEEP.json",
        help="each candidate group's sweep of the class (dstl-hpc sweep): its class must be "
        "--class, and the group it records (sweep --group) GROUP",
    )


def run(args) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.scoring.choose import choose
    from dstl_hpc.scoring.files import read_sweep, write_sweep

    paths = dict(args.candidates)
    if len(paths) != len(args.candidates):
        raise DstlError("choose: a group is given twice")
    guard_outputs({"OUT.json": args.out}, list(paths.values()), suffixes={"OUT.json": JSON})
    sweeps = {
        g: read_sweep(p, expect_class=args.class_type, expect_group=g) for g, p in paths.items()
    }
    chosen = choose(args.class_type, sweeps)
    write_sweep(args.out, chosen)
    scores = ", ".join(
        f"{g} {s:.4f}" if s is not None else f"{g} -" for g, s in chosen["group_scores"].items()
    )
    log.info("class %d: %s chosen (held out: %s)", args.class_type, chosen["group"], scores)
    return 0
