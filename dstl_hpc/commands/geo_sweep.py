"""dstl-hpc geo-sweep OUT.json CHECK.json --cogs SCENE=COG ... --thresholds T ..."""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.argtypes import probability

log = logging.getLogger(__name__)


def scene_paths(items: list[str], flag: str) -> dict[str, str]:
    from dstl_hpc.errors import DstlError

    out = {}
    for item in items:
        scene, sep, path = item.partition("=")
        if not sep or not scene or not path:
            raise DstlError(f"{flag} {item!r}: expected SCENE=PATH")
        out[scene] = path
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="thresholds JSON: per class the threshold of best pixel IoU")
    p.add_argument("check", help="check.json of 'dstl-hpc geo-check'")
    p.add_argument("--cogs", nargs="+", required=True, metavar="SCENE=COG",
                   help="validation scenes' probability COGs")  # fmt: skip
    p.add_argument("--thresholds", nargs="+", type=probability, required=True)


def run(args) -> int:
    from dstl_hpc.atomic import write_json
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.prepare.stacks import read_json_file
    from dstl_hpc.scoring.sweep import grid_edge
    from dstl_hpc.sources.geo.outputs import sweep_scenes
    from dstl_hpc.sources.geo.scores import choose_threshold, pixel_scores

    cogs = scene_paths(args.cogs, "--cogs")
    guard_outputs({"OUT.json": args.out}, [args.check, *cogs.values()], suffixes={"OUT.json": JSON})
    check = read_json_file(args.check)
    names = list(check["classes"])
    counts = sweep_scenes(check, cogs, args.thresholds)
    chosen = choose_threshold(counts, args.thresholds)
    sweep = {
        n: {f"{t:g}": pixel_scores(counts[k, j][None], [n])[n]["iou"]
            for j, t in enumerate(args.thresholds)}
        for k, n in enumerate(names)
    }  # fmt: skip
    write_json(args.out, {
        "scenes": sorted(cogs), "class_order": names,
        "thresholds": dict(zip(names, chosen, strict=True)), "iou": sweep,
    })  # fmt: skip
    for n, t in zip(names, chosen, strict=True):
        print(f"{n}: threshold {t:g}, pixel IoU {sweep[n][f'{t:g}']}")
        if warning := grid_edge(n, t, args.thresholds):
            log.warning(warning)
    return 0
