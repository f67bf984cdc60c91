"""dstl-hpc geo-check OUT.json --spec JSON"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="check.json: scene grids, channels, label counts, the spec")
    p.add_argument(
        "--spec", required=True, help="the geo data config as JSON (what the workflow passes)"
    )


def run(args) -> int:

    from dstl_hpc.argtypes import json_object
    from dstl_hpc.atomic import write_json
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.sources.geo.prepare import check_inputs

    spec = json_object(args.spec, "--spec")
    guard_outputs({"OUT.json": args.out}, [], suffixes={"OUT.json": JSON})
    check = check_inputs(spec)
    write_json(args.out, check)
    for scene, counts in check["label_counts"].items():
        print(f"{scene}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return 0
