"""dstl-hpc geo-vectorize OUT CHECK.json SCENE COG --thresholds JSON --class-settings JSON"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="polygons of the scene (GeoPackage, or GeoJSON)")
    p.add_argument("check", help="check.json of 'dstl-hpc geo-check'")
    p.add_argument("scene", help="scene id")
    p.add_argument("cog", help="the scene's probability COG")
    p.add_argument(
        "--thresholds", help="thresholds JSON of 'dstl-hpc geo-sweep' (for classes without one)"
    )
    p.add_argument(
        "--class-settings",
        required=True,
        help="JSON: per class name {threshold (null: swept), epsilon (px), min_area (px)}",
    )
    p.add_argument("--driver", choices=("GPKG", "GeoJSON"), default="GPKG")
    p.add_argument("--out-crs", default=None, help="output CRS (default: the scene's)")


def class_thresholds(check: dict, settings_json: str, thresholds_path) -> tuple[dict, dict]:
    """(per class settings, per class threshold): the class's own, else the swept one."""

    from dstl_hpc.argtypes import json_object
    from dstl_hpc.errors import DstlError
    from dstl_hpc.prepare.stacks import read_json_file

    settings = json_object(settings_json, "--class-settings")
    missing = [n for n in check["classes"] if n not in settings]
    if missing:
        raise DstlError(f"--class-settings: no settings for classes {missing}")
    swept = read_json_file(thresholds_path).get("thresholds", {}) if thresholds_path else {}
    thresholds = {}
    for name in check["classes"]:
        t = settings[name].get("threshold")
        if t is None:
            if name not in swept:
                where = thresholds_path or "--thresholds"
                raise DstlError(f"{where}: no threshold for class {name}")
            t = swept[name]
        thresholds[name] = float(t)
    return settings, thresholds


def run(args) -> int:
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.prepare.stacks import read_json_file
    from dstl_hpc.sources.geo.outputs import vectorize_scene

    suffix = {"GPKG": (".gpkg",), "GeoJSON": (".geojson", ".json")}[args.driver]
    inputs = [args.check, args.cog, args.thresholds]
    guard_outputs({"OUT": args.out}, inputs, suffixes={"OUT": suffix})
    check = read_json_file(args.check)
    settings, thresholds = class_thresholds(check, args.class_settings, args.thresholds)
    n = vectorize_scene(check, args.scene, args.cog, thresholds, settings, args.out,
                        driver=args.driver, out_crs=args.out_crs)  # fmt: skip
    print(f"{args.scene}: {n} polygons")
    return 0
