"""dstl-hpc predictor MODEL.pt [MODEL.pt ...] OUT.pt [--group G --variant V] [--settings JSON]
   dstl-hpc predictor OUT.pt --index NAME --classes K [K ...] [--group G] [--variant V] ...

The model file that ``predict`` reads: a trained model (or the members of an
ensemble) with its group's prediction settings (``PredictSettings``: tile,
shift_average, shift_steps, edge_margin, mosaic, ensemble, checkpoint), given as one
JSON object. A change of those settings rewrites this small step and the
predictions, never the training; and ``dstl-hpc predict OUT.pt STACK.h5 X.h5`` by
hand predicts exactly as the workflow did.

``--group`` / ``--variant`` (the workflow gives both) say what the predictor is for:
they are recorded in it (``predict --group --variant`` checks them), and each trained
model must record them too (an ensemble member: ``{group}__m{i}``), so that a model of
another group copied into a group's folder is refused here. A model of an earlier run
(``--classes`` without ``--index``: a group's ``pretrained`` file) is checked by its
classes instead; its own group and variant are kept as ``trained_as``.
"""

from __future__ import annotations

import argparse
import logging

from dstl_hpc.config.settings import SETTINGS

log = logging.getLogger("dstl_hpc.predict.predictor")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dstl_hpc.predict.settings import PredictSettings

    p.add_argument(
        "paths",
        nargs="+",
        metavar="MODEL.pt [MODEL.pt ...] OUT.pt",
        help="trained model(s) (models/{variant}/{group}/model.pt; several: the members of "
        "an ensemble), then the predictor file to write (predictor.pt)",
    )
    p.add_argument(
        "--settings",
        default="{}",
        metavar="JSON",
        help="the prediction settings, a JSON object with keys "
        f"{', '.join(PredictSettings.keys())} (missing ones: the defaults, "
        f"{PredictSettings().to_json()}); the workflow passes Plan.predict_settings_json",
    )
    p.add_argument(
        "--index",
        choices=SETTINGS["indices"].choices,
        help="no model: predict --classes with this index channel rescaled to [0, 1] "
        "(then give only OUT.pt)",
    )
    p.add_argument(
        "--classes",
        type=int,
        nargs="+",
        metavar="K",
        help="with --index: the classes to predict; else the classes the model must predict: "
        "a model of an earlier run (a group's pretrained file), checked by its classes "
        "instead of its group and variant",
    )
    p.add_argument(
        "--group",
        default=None,
        help="the group this predictor is for, recorded; a trained model must record it "
        "(or an ensemble member of it) unless --classes marks a model of an earlier run "
        "(default: the model's own group)",
    )
    p.add_argument(
        "--variant",
        default=None,
        help="the variant (validation, all) this predictor is for, recorded; a trained "
        "model must record it unless --classes marks a model of an earlier run (default: "
        "the model's own variant)",
    )


def run(args) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.predict.settings import PredictSettings

    settings = PredictSettings.from_json(args.settings)
    if args.index:
        return _index_predictor(args, settings)
    if len(args.paths) < 2:
        raise DstlError("predictor: give MODEL.pt [MODEL.pt ...] OUT.pt")
    *models, out = args.paths
    guard_outputs({"OUT.pt": out}, models, suffixes={"OUT.pt": (".pt",)})
    from dstl_hpc.predict.predictor import read_model_obj, write_predictor

    if args.classes:
        have = [int(k) for k in read_model_obj(models[0]).get("classes", [])]
        if have != list(args.classes):
            raise DstlError(
                f"{models[0]}: predicts classes {have}, the group asks for {list(args.classes)}"
            )
    # --classes: a model of an earlier run (pretrained), checked by its classes instead
    write_predictor(models, out, settings, args.group, args.variant, check_models=not args.classes)
    log.info("%s: %d member(s), prediction settings %s", out, len(models), settings.to_json())
    return 0


def _index_predictor(args, settings) -> int:
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.predict.predictor import write_index_predictor

    if len(args.paths) != 1 or not args.classes:
        raise DstlError("predictor --index: give OUT.pt only, and --classes")
    out = args.paths[0]
    guard_outputs({"OUT.pt": out}, [], suffixes={"OUT.pt": (".pt",)})
    write_index_predictor(
        out, args.index, args.classes, settings, args.group or "", args.variant or ""
    )
    log.info("%s: classes %s from the %s index, no model", out, args.classes, args.index)
    return 0
