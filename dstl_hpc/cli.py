"""The ``dstl-hpc`` command line: one subcommand per pipeline step.

Each subcommand lives in ``dstl_hpc/commands/<name>.py`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen one is
imported, so ``dstl-hpc align`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

from dstl_hpc import __version__
from dstl_hpc.errors import DstlError

# name -> one-line help. The module is dstl_hpc.commands.<name with - as _>.
COMMANDS = {
    "check-config": "check config files as the workflow does, before any job (one line, exit 2)",
    "synth": "write a synthetic dataset in the exact DSTL layout",
    "align": "align P, M, A to RGB (ECC), upscale, write one HDF5 stack per image",
    "masks": "rasterise an image's training polygons into an HDF5 mask stack",
    "stats": "per-channel mean/std over training stacks (JSON)",
    "train": "train one UNet for one class group (validation or all variant)",
    "predictor": "write the model file predict reads: a model with its prediction settings",
    "predict": "predict one image tile by tile with shift averaging (HDF5 probabilities)",
    "polygonize": "turn one class of a prediction into polygons (one CSV row)",
    "gather": "concatenate per-image polygon CSVs into one CSV",
    "sweep": "choose a class's probability threshold on validation predictions",
    "choose": "choose which group predicts a class, on its held-out validation score",
    "score": "score polygon CSVs with the competition's Jaccard metric",
    "merge": "merge per-class CSVs into a submission in the sample's row order",
    "plots": "draw the report's figures (training curves, sweeps, overlays, tables)",
    "show": "render one image's stack, masks and predictions as a PNG",
    "summary": "print a run's summary: validation scores and where the submission is",
    "geo-synth": "write synthetic georeferenced scenes, labels (GeoPackage) and a scene table",
    "geo-check": "check a geo source's rasters and labels before any job (check.json)",
    "geo-chips": "cut scenes into chips: HDF5 stacks (bands on one grid) and masks",
    "geo-stitch": "stitch a scene's chip predictions into one probability COG",
    "geo-sweep": "choose per class the threshold of best pixel IoU on validation scenes",
    "geo-vectorize": "turn a scene's probability COG into polygons per class (GeoPackage)",
    "geo-score": "pixel IoU/F1/precision/recall and polygon Jaccard of labelled scenes",
    "geo-merge": "merge the scenes' polygon files into one GIS layer",
}


def _module_name(command: str) -> str:
    return "dstl_hpc.commands." + command.replace("-", "_")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dstl-hpc",
        description="The DSTL feature-detection pipeline, step by step.",
    )
    parser.add_argument("--version", action="version", version=f"dstl-hpc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(_module_name(name))
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command is None:
        parser.print_help()
        return 2
    # SIGTERM (a cancelled or timed-out job) unwinds like Ctrl-C, so that every
    # temporary output is removed; `train` installs its own handlers (checkpoint).
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args._run(args) or 0)
    except DstlError as exc:
        return _fail(args.command, str(exc))
    except OSError as exc:
        return _fail(args.command, _os_error(exc))
    except MemoryError:
        return _fail(args.command, "out of memory (ask for more, e.g. a larger mem_mb)")
    except KeyboardInterrupt:
        print(f"dstl-hpc {args.command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"dstl-hpc {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:  # a caller of main() (tests, a notebook) gets its own handler back
        signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """Raised by the SIGTERM handler: unwinds the step like KeyboardInterrupt."""


def _terminate(signum, frame):
    raise _Terminated()


def _fail(command: str, message: str) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"dstl-hpc {command}: error: {first}", file=sys.stderr)
    return 2


def _os_error(exc: OSError) -> str:
    """``<file>: <problem>`` for an OSError of the machine (full disk, permissions...)."""
    problem = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.filename:
        return f"{exc.filename}: {problem}"
    return str(exc) if not exc.errno else problem


if __name__ == "__main__":
    raise SystemExit(main())
