"""dstl-hpc masks DATA_DIR IMAGE_ID OUT.h5 [--pre-buffer CLASS=PX ...]"""

from __future__ import annotations

import argparse

from dstl_hpc.argtypes import finite_float
from dstl_hpc.errors import DstlError


def parse_pre_buffer(items: list[str]) -> dict[int, float]:
    out = {}
    for item in items:
        try:
            k, v = item.split("=")
            ct, px = int(k), finite_float(v)
        except (ValueError, argparse.ArgumentTypeError):
            raise DstlError(
                f"--pre-buffer {item!r}: expected CLASS=PIXELS with a finite PIXELS, e.g. 2=0.5"
            ) from None
        if not 1 <= ct <= 10:
            raise DstlError(f"--pre-buffer {item!r}: class must be 1..10")
        out[ct] = px
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data_dir", help="DSTL data directory (train_wkt_v4.csv, grid_sizes.csv, three_band/)"
    )
    p.add_argument("image_id", help="a training image id")
    p.add_argument(
        "out",
        help="output HDF5 (dataset 'mask', uint8 10 x H x W; attribute dropped_polygons: "
        "per class, the polygons outside the image's grid extent)",
    )
    p.add_argument(
        "--pre-buffer",
        nargs="*",
        default=[],
        metavar="CLASS=PX",
        help="grow class CLASS's polygons by PX pixels before rasterising (e.g. 2=0.5)",
    )


def run(args) -> int:
    from dstl_hpc.paths import H5, guard_outputs
    from dstl_hpc.prepare.masks import image_labels, write_image_mask
    from dstl_hpc.sources.dstl import Layout

    pre_buffer = parse_pre_buffer(args.pre_buffer)
    layout = Layout(args.data_dir)
    inputs = [layout.three_band(args.image_id), layout.train_wkt, layout.grid_sizes]
    guard_outputs({"OUT.h5": args.out}, inputs, suffixes={"OUT.h5": H5}, data_dirs=[args.data_dir])
    # polygons outside the image's grid extent: warned about and recorded in the file
    mask, outside = image_labels(layout, args.image_id, pre_buffer)
    write_image_mask(args.out, mask, args.image_id, pre_buffer, outside)
    return 0
