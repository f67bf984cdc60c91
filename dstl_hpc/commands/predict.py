"""dstl-hpc predict PREDICTOR.pt STACK.h5 OUT.h5 [options]
   dstl-hpc predict PREDICTOR.pt STACK.h5 [STACK.h5 ...] --out-dir DIR [options]
   options: --group G --variant V (what the predictor must be for), ...

Predicts with the ``PredictSettings`` the predictor file holds (``dstl-hpc predictor``
wrote them); the flags of the prediction settings override them for a hand run. Torch
is imported only when the command runs (inside ``run``).
"""

from __future__ import annotations

import argparse

from dstl_hpc.argtypes import non_negative_int, positive_int


def add_prediction_settings(p: argparse.ArgumentParser, default: str) -> None:
    """The flags that override a predictor file's prediction settings."""
    p.add_argument(
        "--tile",
        type=positive_int,
        default=None,
        help=f"output tile side in px, rounded to fit the net ({default})",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--shift-steps",
        type=positive_int,
        default=None,
        help=f"shift averaging with N x N tilings, step patch_inner / N ({default})",
    )
    g.add_argument("--no-shift-average", action="store_true", help="one tiling, no shift averaging")
    p.add_argument(
        "--edge-margin",
        type=non_negative_int,
        default=None,
        help=f"pixels within this distance of the image edge are set to 0 ({default})",
    )
    p.add_argument(
        "--mosaic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="surround each image with its scene neighbours' pixels ({scene}_{row}_{col} "
        f"tiles, found in --context-dirs) instead of mirroring its edges ({default})",
    )


def prediction_overrides(args) -> dict:
    """The prediction settings given on the command line (``PredictSettings.overridden``)."""
    return {
        "tile": args.tile,
        "shift_steps": args.shift_steps,
        "shift_average": False if args.no_shift_average else None,
        "edge_margin": args.edge_margin,
        "mosaic": args.mosaic,
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        help="predictor file (models/{variant}/{group}/predictor.pt, from dstl-hpc predictor), "
        "which holds the prediction settings; a model.pt predicts with the defaults",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="STACK.h5 [OUT.h5]",
        help="an image stack (stacks/part{p}/{id}.h5) and the output prediction HDF5; "
        "with --out-dir, one or more stacks",
    )
    p.add_argument(
        "--group",
        default=None,
        help="the group to predict for: the predictor file must record it (the workflow "
        "gives it; default: not checked)",
    )
    p.add_argument(
        "--variant",
        default=None,
        help="the variant (validation, all) to predict for: the predictor file must record "
        "it (the workflow gives it; default: not checked)",
    )
    p.add_argument(
        "--out-dir",
        help="predict every stack given, writing DIR/<stack file name> (the model is loaded once)",
    )
    add_prediction_settings(p, "default: the predictor file's")
    p.add_argument(
        "--context-dirs",
        nargs="+",
        default=[],
        metavar="DIR",
        help="with mosaic: dirs of {id}.h5 stacks where the images' scene neighbours are "
        "looked for (missing ones: the edge is mirrored)",
    )
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto"
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="tiles per forward (default: 1 on CPU, ~4 Mpx on CUDA)",
    )


def run(args) -> int:
    from pathlib import Path

    from dstl_hpc.device import check_threads
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import H5, check_out_dir, guard_outputs
    from dstl_hpc.predict.files import predict_files

    check_threads(args.threads)
    if args.out_dir:
        out_dir = check_out_dir(args.out_dir)
        pairs = [(s, str(out_dir / Path(s).name)) for s in args.paths]
    elif len(args.paths) == 2:
        pairs = [tuple(args.paths)]
    else:
        raise DstlError("give STACK.h5 OUT.h5, or stacks with --out-dir DIR")
    outputs = {f"output {out}": out for _, out in pairs}
    guard_outputs(
        outputs,
        [args.model, *(stack for stack, _ in pairs)],
        suffixes=dict.fromkeys(outputs, H5),
    )
    if args.group is not None or args.variant is not None:
        from dstl_hpc.predict.predictor import read_predictor_meta

        # a predictor of another group or variant (copied into this one's folder): refused
        read_predictor_meta(args.model, expect_group=args.group, expect_variant=args.variant)
    from dstl_hpc.device import resolve_device

    resolve_device(args.device)  # no CUDA for --device cuda: exit 2 before any work
    if args.out_dir:
        from dstl_hpc.prepare.h5_contract import check_image_id

        for stack, _ in pairs:  # DIR/{id}.h5: the name is the id each file is read as
            check_image_id(stack, Path(stack).stem)
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    predict_files(
        args.model,
        pairs,
        device=args.device,
        threads=args.threads,
        context_dirs=args.context_dirs,
        batch=args.batch,
        **prediction_overrides(args),
    )
    return 0
