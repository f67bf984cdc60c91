"""dstl-hpc geo-merge OUT FILE ... [--crs CRS]"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="all scenes' polygons in one layer (GeoPackage or GeoJSON)")
    p.add_argument("inputs", nargs="+", help="per-scene polygon files")
    p.add_argument("--driver", choices=("GPKG", "GeoJSON"), default="GPKG")
    p.add_argument("--crs", default=None, help="output CRS (default: the first input's)")


def run(args) -> int:
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.sources.geo.vectorize import merge_polygons

    suffix = {"GPKG": (".gpkg",), "GeoJSON": (".geojson", ".json")}[args.driver]
    guard_outputs({"OUT": args.out}, args.inputs, suffixes={"OUT": suffix})
    n = merge_polygons(args.inputs, args.out, driver=args.driver, crs=args.crs)
    print(f"{args.out}: {n} polygons from {len(args.inputs)} scenes")
    return 0
