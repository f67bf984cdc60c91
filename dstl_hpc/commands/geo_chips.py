"""dstl-hpc geo-chips CHECK.json CHIP_ID ... --stacks-out DIR --masks-out DIR"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("check", help="check.json of 'dstl-hpc geo-check'")
    p.add_argument("chips", nargs="+", help="chip ids ({scene}__{row}_{col})")
    p.add_argument("--stacks-out", required=True, help="folder for the chips' stacks")
    p.add_argument("--masks-out", required=True, help="folder for the masks of labelled chips")
    from dstl_hpc.prepare.stacks import DEFAULT_COMPRESSION, STACK_COMPRESSION

    p.add_argument(
        "--compression",
        choices=STACK_COMPRESSION,
        default=DEFAULT_COMPRESSION,
        help="how the chips' stacks are stored (default %(default)s)",
    )


def run(args) -> int:
    from dstl_hpc.paths import check_out_dir
    from dstl_hpc.prepare.stacks import read_json_file
    from dstl_hpc.sources.geo.prepare import write_chips

    check = read_json_file(args.check)
    for d in (args.stacks_out, args.masks_out):
        check_out_dir(d)
    n = write_chips(check, args.chips, args.stacks_out, args.masks_out, args.compression)
    print(f"wrote {n} chips")
    return 0
