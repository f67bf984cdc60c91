"""dstl-hpc geo-score OUT.json CHECK.json --cogs SCENE=COG ... --polygons SCENE=FILE ..."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="scores JSON: per class pixel IoU, F1, precision, recall, "
                   "polygon Jaccard; their means")  # fmt: skip
    p.add_argument("check", help="check.json of 'dstl-hpc geo-check'")
    p.add_argument("--cogs", nargs="+", required=True, metavar="SCENE=COG")
    p.add_argument("--polygons", nargs="+", required=True, metavar="SCENE=FILE")
    p.add_argument(
        "--thresholds", help="thresholds JSON of 'dstl-hpc geo-sweep' (for classes without one)"
    )
    p.add_argument("--class-settings", required=True, help="JSON: per class name {threshold, ...}")


def run(args) -> int:
    from dstl_hpc.atomic import write_json
    from dstl_hpc.commands.geo_sweep import scene_paths
    from dstl_hpc.commands.geo_vectorize import class_thresholds
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.prepare.stacks import read_json_file
    from dstl_hpc.sources.geo.outputs import score_scenes

    cogs = scene_paths(args.cogs, "--cogs")
    polygons = scene_paths(args.polygons, "--polygons")
    if set(cogs) != set(polygons):
        raise DstlError("--cogs and --polygons name different scenes")
    inputs = [args.check, args.thresholds, *cogs.values(), *polygons.values()]
    guard_outputs({"OUT.json": args.out}, inputs, suffixes={"OUT.json": JSON})
    check = read_json_file(args.check)
    _, thresholds = class_thresholds(check, args.class_settings, args.thresholds)
    scores = score_scenes(check, cogs, polygons, thresholds)
    write_json(args.out, scores)
    for name, s in scores["classes"].items():
        print(f"{name}: pixel IoU {s['iou']}, polygon Jaccard {s['polygon_jaccard']}")
    return 0
