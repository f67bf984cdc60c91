"""The ``dstl-hpc`` command line: one subcommand per pipeline step.

Each subcommand lives in ``dstl_hpc/commands/<name>.py`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen one is
imported, so ``dstl-hpc align`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dstl_hpc import __version__
from dstl_hpc.errors import DstlError

# name -> one-line help. The module is dstl_hpc.commands.<name with - as _>.
COMMANDS = {
    "synth": "write a synthetic dataset in the exact DSTL layout",
    "align": "align P, M, A to RGB (ECC), upscale, write one HDF5 stack per image",
    "masks": "rasterise an image's training polygons into an HDF5 mask stack",
    "stats": "per-channel mean/std over training stacks (JSON)",
    "train": "train one UNet for one class group (validation or all variant)",
    "predict": "predict one image tile by tile with shift averaging (HDF5 probabilities)",
    "polygonize": "turn one class of a prediction into polygons (one CSV row)",
    "gather": "concatenate per-image polygon CSVs into one CSV",
    "sweep": "choose a class's probability threshold on validation predictions",
    "score": "score polygon CSVs with the competition's Jaccard metric",
    "merge": "merge per-class CSVs into a submission in the sample's row order",
    "plots": "draw the report's figures (training curves, sweeps, overlays, tables)",
    "show": "render one image's stack, masks and predictions as a PNG",
    "summary": "print a run's summary: validation scores and where the submission is",
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
    try:
        return int(args._run(args) or 0)
    except DstlError as exc:
        print(f"dstl-hpc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dstl-hpc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
