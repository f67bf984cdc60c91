"""dstl-hpc geo-synth OUT_DIR [--scenes N] [--size PX] [--seed K]"""

from __future__ import annotations

import argparse

from dstl_hpc.argtypes import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", help="folder to write (rasters/, scenes.csv, labels.gpkg, ...)")
    p.add_argument("--scenes", type=positive_int, default=4, help="scenes (>= 3)")
    p.add_argument("--size", type=positive_int, default=512, help="scene side in 2 m pixels")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from dstl_hpc.sources.geo.synthetic import write_geo_dataset

    manifest = write_geo_dataset(args.out_dir, scenes=args.scenes, size=args.size, seed=args.seed)
    print(f"wrote {len(manifest['scenes'])} scenes to {args.out_dir}")
    return 0
