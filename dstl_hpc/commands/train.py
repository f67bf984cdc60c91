"""``dstl-hpc train``: train one UNet for one class group (resumable).

Settings: TRAIN_DEFAULTS, updated by the ``--settings`` JSON object, updated by the
per-setting flags (``--epochs 3``, ``--filters-base 8``...). Exit codes: 0 done,
2 bad input, 143 after SIGTERM / 138 after SIGUSR1 (a checkpoint was written; run
the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dstl_hpc.argtypes import json_object, positive_float, positive_int
from dstl_hpc.config.settings import REQUIRED, SETTINGS, TRAIN_KEYS, merge_settings
from dstl_hpc.paths import check_regular


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "1", "on"):
        return True
    if t in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# A setting's kind -> (argparse type, metavar, nargs); "auto" is admitted where the
# setting allows it (SETTINGS[key].auto), "null" where it is nullable.
_KINDS = {
    "int": (int, "N", None),
    "number": (float, "X", None),
    "bool": (_bool, "true|false", None),
    "choice": (str, None, None),
    "classes": (int, "K", "+"),
    "epochs": (int, "E", "*"),
    "names": (str, "NAME", "*"),
}


def _with_words(convert, spec):
    def parse(text: str):
        word = text.strip().lower()
        if spec.auto and word == "auto":
            return "auto"
        if spec.nullable and word in ("null", "none"):
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {parse.__name__}, got {text!r}") from None

    parse.__name__ = {int: "an integer", float: "a number"}.get(convert, "a value")
    return parse


def _flag(key: str, spec) -> dict:
    """argparse keywords of one setting's flag, from its spec."""
    convert, metavar, nargs = _KINDS[spec.kind]
    if spec.kind in ("choice", "names"):
        metavar = "|".join(spec.choices)
    elif spec.auto:
        metavar = f"auto|{metavar}"
    shown = "required" if key in REQUIRED else f"default: {json.dumps(spec.default)}"
    kwargs = {
        "dest": f"setting_{key}",
        "default": None,
        "type": _with_words(convert, spec) if spec.auto or spec.nullable else convert,
        "help": f"{spec.help} ({shown})".replace("%", "%%"),
        "metavar": metavar,
    }
    if nargs:
        kwargs["nargs"] = nargs
    return kwargs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags: inputs and outputs, then one per setting (made from ``SETTINGS``); long
    because argparse declarations are one call each."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Settings: defaults < --settings JSON < the per-setting flags.\n"
        "Exit codes: 0 done; 2 bad input; 143 after SIGTERM, 138 after SIGUSR1: the state\n"
        "is saved to --checkpoint at the next batch boundary; rerun the same command to\n"
        "resume (a checkpoint of other settings, ids or stats is ignored with a warning)."
    )
    io = parser.add_argument_group("files and run")
    io.add_argument("--out", required=True, type=Path, help="model file to write (required)")
    io.add_argument("--metrics", required=True, type=Path, help="metrics CSV to write (required)")
    io.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="checkpoint written after every epoch and on SIGTERM/SIGUSR1, resumed from "
        "when present, deleted when training ends (required)",
    )
    io.add_argument("--stats", required=True, type=Path, help="channel stats JSON (required)")
    io.add_argument(
        "--stacks-dir",
        required=True,
        type=Path,
        nargs="+",
        metavar="DIR",
        help="dir(s) of {id}.h5 stacks; each id is read from the first that holds it (required)",
    )
    io.add_argument(
        "--masks-dir",
        required=True,
        type=Path,
        nargs="+",
        help="dir(s) of {id}.h5 masks (required; each id is looked up in order)",
    )
    io.add_argument(
        "--train-ids", required=True, nargs="+", metavar="ID", help="training image ids"
    )
    io.add_argument(
        "--valid-ids",
        nargs="*",
        default=[],
        metavar="ID",
        help="validation image ids (default: none, no validation columns)",
    )
    io.add_argument("--group", required=True, help="class group name (recorded in the model)")
    io.add_argument("--variant", required=True, help="variant name, e.g. validation or all")
    io.add_argument(
        "--settings",
        default="{}",
        metavar="JSON",
        help="group settings as a JSON object, or @FILE holding one (default: {}); "
        "must provide classes unless --classes is given",
    )
    io.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto: CUDA when available, else CPU (default: auto)",
    )
    io.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: SLURM_CPUS_PER_TASK, else the CPUs this process "
        "may run on); with --procs N each process gets 1/N of them",
    )
    io.add_argument(
        "--procs",
        type=positive_int,
        default=1,
        metavar="N",
        help="train on N processes of this node with DistributedDataParallel: one GPU each "
        "on CUDA (NCCL; N GPUs must be visible), gloo processes on the CPU; each trains an "
        "equal share of every batch (batch_size divisible by N); the workflow passes the "
        "GPUs the group's train job asks for (default: 1)",
    )
    io.add_argument(
        "--log-every",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="without a terminal (a SLURM log): a progress line (loss, patches/s, epoch ETA) "
        "every SECONDS; on a terminal a progress bar (default: 60)",
    )
    io.add_argument(
        "--select-from",
        type=Path,
        default=None,
        metavar="METRICS.csv",
        help="a validation run's metrics CSV: train as many epochs as the latest epoch that "
        "validated best for a class, and keep each class's best epoch in the model file "
        "(predictor --checkpoint best)",
    )
    grp = parser.add_argument_group("settings (override --settings)")
    for key in TRAIN_KEYS:  # prediction settings reach predictor, never train
        spec = SETTINGS[key]
        grp.add_argument("--" + key.replace("_", "-"), **_flag(key, spec))


def _settings_layer(text: str) -> dict:
    where = "--settings"
    if text.startswith("@"):
        path = Path(text[1:])
        where = str(path)
        check_regular(path)
        text = path.read_text()
    return json_object(text, where)


def run(args: argparse.Namespace) -> int:
    from dstl_hpc.device import check_threads
    from dstl_hpc.paths import guard_outputs

    check_threads(args.threads)

    ids = [*args.train_ids, *args.valid_ids]
    inputs = [args.stats, *([args.select_from] if args.select_from else [])]
    inputs += [d / f"{i}.h5" for d in (*args.stacks_dir, *args.masks_dir) for i in ids]
    guard_outputs(
        {"--out": args.out, "--metrics": args.metrics, "--checkpoint": args.checkpoint},
        inputs,
        suffixes={"--out": (".pt",), "--metrics": (".csv",)},
    )
    from dstl_hpc.device import resolve_device

    resolve_device(args.device)  # no CUDA for --device cuda: exit 2 now, not at the time limit
    layer = _settings_layer(args.settings)
    overrides = {
        k: getattr(args, f"setting_{k}")
        for k in TRAIN_KEYS
        if getattr(args, f"setting_{k}") is not None
    }
    settings = merge_settings(layer, overrides, where="train settings")

    from dstl_hpc.train import train

    return train(
        out=args.out,
        metrics=args.metrics,
        checkpoint=args.checkpoint,
        stats=args.stats,
        stacks_dir=args.stacks_dir,
        masks_dir=args.masks_dir,
        train_ids=args.train_ids,
        valid_ids=args.valid_ids,
        group=args.group,
        variant=args.variant,
        settings=settings,
        device=args.device,
        threads=args.threads,
        log_every=args.log_every,
        select_epochs=_selected(args.select_from, settings["classes"]),
        procs=args.procs,
    )


def _selected(metrics, classes) -> dict[int, int] | None:
    """class -> epoch that validated best, from ``--select-from`` (None without it; {}
    when no class scored above 0 on validation: every class keeps the last weights)."""
    if metrics is None:
        return None
    from dstl_hpc.train.best import read_best_epochs

    return read_best_epochs(metrics, classes)
