"""dstl-hpc geo-stitch OUT.tif CHECK.json SCENE --predictions H5 ... --stacks H5 ..."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="the scene's probability COG (uint8 p*254, nodata 255)")
    p.add_argument("check", help="check.json of 'dstl-hpc geo-check'")
    p.add_argument("scene", help="scene id")
    p.add_argument("--predictions", nargs="+", required=True, help="chip predictions (HDF5)")
    p.add_argument("--stacks", nargs="+", required=True, help="the chips' stacks (valid plane)")


def run(args) -> int:
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.prepare.stacks import read_json_file
    from dstl_hpc.sources.geo.outputs import stitch_scene

    guard_outputs({"OUT.tif": args.out}, [*args.predictions, *args.stacks, args.check],
                  suffixes={"OUT.tif": (".tif",)})  # fmt: skip
    stitch_scene(read_json_file(args.check), args.scene, args.predictions, args.stacks, args.out)
    return 0
