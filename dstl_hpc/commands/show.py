"""dstl-hpc show STACK_H5 OUT_PNG [--mask MASK_H5] [--prediction PRED_H5 ...] [--classes K ...]
[--threshold 0.5] [--false-colour]: a quick look at one image as one PNG."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", help="the image's stack (stacks/part{p}/{id}.h5)")
    p.add_argument("out", help="PNG to write")
    p.add_argument(
        "--mask",
        default=None,
        help="the image's training mask (masks/{id}.h5; geo: masks/part{p}/{chip}.h5)",
    )
    p.add_argument(
        "--prediction",
        nargs="+",
        default=[],
        help="prediction HDF5 files of the image (predictions/{variant}/{group}/part{p}/{id}.h5)",
    )
    p.add_argument(
        "--classes",
        nargs="+",
        type=int,
        default=None,
        help="ClassTypes to show (default: those predicted, else those in the mask)",
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="probability threshold (default 0.5)"
    )
    p.add_argument(
        "--false-colour",
        "--false-color",
        action="store_true",
        help="add a false colour NIR panel (M7, M5, M3)",
    )
    p.add_argument("--width", type=int, default=1200, help="PNG width in pixels (default 1200)")
    p.add_argument(
        "--classes-json",
        default=None,
        help="the run's classes (results/classes.json; default: the DSTL classes)",
    )


def run(args) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.plots.show import show
    from dstl_hpc.sources import classes_of

    if args.width < 200:
        raise DstlError(f"--width {args.width}: too small (at least 200)")
    guard_outputs(
        {"OUT.png": args.out},
        [args.stack, args.mask, *(args.prediction or []), args.classes_json],
        suffixes={"OUT.png": (".png",)},
    )
    out = show(
        args.stack,
        args.out,
        mask=args.mask,
        predictions=args.prediction,
        classes=args.classes,
        threshold=args.threshold,
        false_colour=args.false_colour,
        width_px=args.width,
        known=classes_of(args.classes_json),
    )
    print(out)
    return 0
