"""dstl-hpc predictor MODEL.pt OUT.pt [--tile N] [--shift-steps N | --no-shift-average]
   [--edge-margin N]

The model file that ``predict`` reads: a trained model with its group's prediction
settings written into it. A change of those settings rewrites this small step and
the predictions, never the training; and ``dstl-hpc predict OUT.pt STACK.h5 X.h5`` by
hand predicts exactly as the workflow did.
"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.commands.predict import add_prediction_settings, prediction_settings

log = logging.getLogger("dstl_hpc.predictor")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="MODEL.pt", help="trained model (models/{variant}/{group}/model.pt)"
    )
    p.add_argument(
        "out", metavar="OUT.pt", help="model file to write, with the prediction settings"
    )
    add_prediction_settings(p, "default: as trained")


def run(args) -> int:
    from dstl_hpc.paths import guard_outputs

    guard_outputs({"OUT.pt": args.out}, [args.model], suffixes={"OUT.pt": (".pt",)})
    from dstl_hpc.model import write_predictor

    hparams = write_predictor(args.model, args.out, prediction_settings(args))
    log.info(
        "%s: tile %d, shift_average %s, shift_steps %d, edge_margin %d",
        args.out,
        hparams["tile"],
        hparams["shift_average"],
        hparams["shift_steps"],
        hparams["edge_margin"],
    )
    return 0
