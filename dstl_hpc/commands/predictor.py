"""dstl-hpc predictor MODEL.pt [MODEL.pt ...] OUT.pt [--tile N]
   [--shift-steps N | --no-shift-average] [--edge-margin N] [--mosaic | --no-mosaic]
   [--ensemble mean|median] [--checkpoint last|best]

The model file that ``predict`` reads: a trained model (or the members of an
ensemble) with its group's prediction settings written into it. A change of those
settings rewrites this small step and the predictions, never the training; and
``dstl-hpc predict OUT.pt STACK.h5 X.h5`` by hand predicts exactly as the workflow did.
"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.commands.predict import add_prediction_settings, prediction_settings
from dstl_hpc.config.schema import GROUP_EXTRAS
from dstl_hpc.config.settings import SETTINGS

log = logging.getLogger("dstl_hpc.predict.predictor")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="MODEL.pt [MODEL.pt ...] OUT.pt",
        help="trained model(s) (models/{variant}/{group}/model.pt; several: the members of "
        "an ensemble), then the model file to write",
    )
    add_prediction_settings(p, "default: as trained")
    p.add_argument(
        "--index",
        choices=SETTINGS["indices"].choices,
        help="no model: predict --classes with this index channel rescaled to [0, 1] "
        "(then give only OUT.pt)",
    )
    p.add_argument("--classes", type=int, nargs="+", metavar="K", help="with --index")
    p.add_argument("--group", default="", help="with --index: the group name recorded")
    p.add_argument(
        "--checkpoint",
        choices=GROUP_EXTRAS["checkpoint"]["enum"],
        default="last",
        help="the weights to predict with: the last epoch's, or per class the epoch that "
        "validated best (kept by train with validation images or --select-from) (default last)",
    )
    p.add_argument(
        "--ensemble",
        choices=GROUP_EXTRAS["ensemble"]["enum"],
        default="mean",
        help="how several members' probabilities are combined (default mean)",
    )


def run(args) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import guard_outputs

    if args.index:
        return _index_predictor(args)
    if len(args.paths) < 2:
        raise DstlError("predictor: give MODEL.pt [MODEL.pt ...] OUT.pt")
    *models, out = args.paths
    guard_outputs({"OUT.pt": out}, models, suffixes={"OUT.pt": (".pt",)})
    from dstl_hpc.predict.predictor import write_predictor

    hp = write_predictor(models, out, prediction_settings(args), args.ensemble, args.checkpoint)
    log.info(
        "%s: %d member(s)%s, tile %d, shift_average %s, shift_steps %d, edge_margin %d, mosaic %s",
        out,
        len(models),
        f" ({args.ensemble})" if len(models) > 1 else "",
        hp["tile"],
        hp["shift_average"],
        hp["shift_steps"],
        hp["edge_margin"],
        hp["mosaic"],
    )
    return 0


def _index_predictor(args) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.predict.predictor import write_index_predictor

    if len(args.paths) != 1 or not args.classes:
        raise DstlError("predictor --index: give OUT.pt only, and --classes")
    out = args.paths[0]
    guard_outputs({"OUT.pt": out}, [], suffixes={"OUT.pt": (".pt",)})
    write_index_predictor(out, args.index, args.classes, prediction_settings(args), args.group)
    log.info("%s: classes %s from the %s index, no model", out, args.classes, args.index)
    return 0
