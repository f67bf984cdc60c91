"""dstl-hpc predict MODEL.pt STACK.h5 OUT.h5 [--tile PX] [--shift-steps N | --no-shift-average] ...

Torch is imported only when the command runs (inside ``run``).
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (models/{variant}/{group}/model.pt)")
    p.add_argument("stack", help="image stack HDF5 (stacks/{id}.h5)")
    p.add_argument("out", help="output prediction HDF5 (dataset 'prob', uint8)")
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="output tile side in px (default: the model's 'tile'; rounded to fit the net)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--shift-steps",
        type=int,
        default=None,
        help="shift averaging with N x N tilings, step patch_inner / N (default: the model's)",
    )
    g.add_argument("--no-shift-average", action="store_true", help="one tiling, no shift averaging")
    p.add_argument(
        "--edge-margin",
        type=int,
        default=None,
        help="pixels within this distance of the image edge are set to 0 (default: the model's)",
    )
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="tiles per forward (default: 1 on CPU, ~4 Mpx on CUDA)",
    )


def run(args) -> int:
    from dstl_hpc.predict import predict_file

    shift_steps = 1 if args.no_shift_average else args.shift_steps
    predict_file(
        args.model,
        args.stack,
        args.out,
        device=args.device,
        threads=args.threads,
        tile=args.tile,
        shift_steps=shift_steps,
        edge_margin=args.edge_margin,
        batch=args.batch,
    )
    return 0
