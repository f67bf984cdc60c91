"""dstl-hpc synth OUT_DIR [--images N] [--train N_TRAIN] [--size H W] [--seed S]"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger("dstl_hpc.sources.synthetic")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dstl_hpc.sources.synthetic import DEFAULT_IMAGES, DEFAULT_SEED, DEFAULT_SIZE, DEFAULT_TRAIN

    p.add_argument(
        "out_dir",
        metavar="OUT_DIR",
        help="dataset directory to write (replaced, only once the new one is complete)",
    )
    p.add_argument(
        "--images",
        type=int,
        default=DEFAULT_IMAGES,
        help=f"images in all (default {DEFAULT_IMAGES})",
    )
    p.add_argument(
        "--train",
        type=int,
        default=DEFAULT_TRAIN,
        help=f"of which labelled training images, the rest are test (default {DEFAULT_TRAIN})",
    )
    p.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=list(DEFAULT_SIZE),
        help="RGB size of the first image; the others are up to 2 x 3 px larger "
        f"(default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]}; real images are about 3348 3392)",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    p.add_argument(
        "--mosaic",
        action="store_true",
        help="cut the tiles of each scene ({scene}_{row}_{col}) from one landscape, so that "
        "objects run on into the neighbouring tiles, as in the real data (all tiles H x W)",
    )


def run(args) -> int:
    from dstl_hpc.sources.synthetic import generate

    start = time.perf_counter()
    truth = generate(
        args.out_dir,
        n_images=args.images,
        n_train=args.train,
        size=tuple(args.size),
        seed=args.seed,
        mosaic=args.mosaic,
    )
    log.info(
        "wrote %d training and %d test images to %s in %.1f s",
        len(truth["train_ids"]),
        len(truth["test_ids"]),
        args.out_dir,
        time.perf_counter() - start,
    )
    return 0
