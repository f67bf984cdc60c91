"""dstl-hpc align DATA_DIR IMAGE_ID OUT.h5 [--threads N] [alignment options]
dstl-hpc align DATA_DIR IMAGE_ID [IMAGE_ID ...] --out-dir DIR [options]
"""

from __future__ import annotations

import argparse
import logging
import time

from dstl_hpc.argtypes import positive_int
from dstl_hpc.prepare.stacks import DEFAULT_COMPRESSION, STACK_COMPRESSION

log = logging.getLogger("dstl_hpc.prepare.align")


def _odd(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be odd and >= 1, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Inputs, outputs and the alignment options; long because argparse declarations are
    one call each."""
    from dstl_hpc.prepare.align import AlignOptions

    d = AlignOptions()
    p.add_argument("data_dir", metavar="DATA_DIR", help="DSTL-layout data directory")
    p.add_argument(
        "items",
        nargs="+",
        metavar="IMAGE_ID [OUT.h5]",
        help="an image to align, e.g. 6120_2_2, and the stack to write (HDF5, see "
        "dstl_hpc.prepare.stacks); with --out-dir, one or more image ids",
    )
    p.add_argument("--out-dir", help="align every image given, writing DIR/{id}.h5")
    p.add_argument(
        "--compression",
        choices=STACK_COMPRESSION,
        default=DEFAULT_COMPRESSION,
        help="blosc-lz4hc: ~0.44 of the raw size, ~4x faster to read patches from than "
        "gzip: ~0.40; none: the raw size (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="OpenCV threads (default: all CPUs available to this process)",
    )
    p.add_argument(
        "--gauss-filt-size",
        type=_odd,
        default=d.gauss_filt_size,
        help="ECC's Gaussian pre-filter size, odd; 1 = none; capped at 1/16 of the band's "
        f"smaller side (default {d.gauss_filt_size})",
    )
    p.add_argument(
        "--reference",
        choices=("fit", "grey"),
        default=d.reference,
        help="reference image: least-squares combination of the reference bands fitted "
        "to the band (fit), or their mean as in the original solution (grey) "
        f"(default {d.reference})",
    )
    p.add_argument(
        "--a-reference",
        choices=("m", "rgb"),
        default=d.a_reference,
        help=f"align A to M after M's alignment, or straight to RGB (default {d.a_reference})",
    )
    p.add_argument(
        "--ref-resize",
        choices=("area", "cubic"),
        default=d.ref_resize,
        help=f"how the reference is resized to the band's size (default {d.ref_resize})",
    )
    p.add_argument(
        "--resample",
        choices=("direct", "two_step"),
        default=d.resample,
        help="direct: one cubic warp to the RGB size; two_step: linear warp at the "
        f"band's size, then cubic upscaling (default {d.resample})",
    )
    p.add_argument(
        "--no-coarse",
        dest="coarse",
        action="store_false",
        help="no phase-correlation / coarse-level initial estimate (ECC starts at 0)",
    )


def _pairs(args) -> list[tuple[str, str]]:
    """(image id, output stack) for each image the command aligns."""
    from dstl_hpc.errors import DstlError
    from dstl_hpc.paths import check_out_dir

    if args.out_dir:
        out_dir = check_out_dir(args.out_dir)
        if len(set(args.items)) != len(args.items):
            raise DstlError("align: an image id is given twice")
        return [(i, str(out_dir / f"{i}.h5")) for i in args.items]
    if len(args.items) != 2:
        raise DstlError("align: give IMAGE_ID OUT.h5, or image ids with --out-dir DIR")
    return [tuple(args.items)]


def run(args) -> int:
    import cv2

    from dstl_hpc.device import check_threads, cpu_count
    from dstl_hpc.paths import H5, guard_outputs
    from dstl_hpc.prepare.align import AlignOptions
    from dstl_hpc.sources.dstl import Layout

    check_threads(args.threads)
    layout = Layout(args.data_dir)
    pairs = _pairs(args)
    outputs = {f"output {out}": out for _, out in pairs}
    guard_outputs(
        outputs,
        [f for image, _ in pairs for f in layout.image_files(image)],
        suffixes=dict.fromkeys(outputs, H5),
        data_dirs=[args.data_dir],
    )
    threads = args.threads or cpu_count(slurm=False)
    cv2.setNumThreads(threads)
    options = AlignOptions(
        gauss_filt_size=args.gauss_filt_size,
        reference=args.reference,
        a_reference=args.a_reference,
        ref_resize=args.ref_resize,
        resample=args.resample,
        coarse=args.coarse,
    )
    if args.out_dir:
        from pathlib import Path

        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    for image, out in pairs:
        align_one(layout, image, out, options, threads, args.compression)
    return 0


def align_one(layout, image_id: str, out: str, options, threads: int, compression: str) -> None:
    """Read one image's TIFFs, align P, M and A to RGB, write its stack; log the timings."""
    from dstl_hpc.prepare.align import align_image
    from dstl_hpc.prepare.stacks import write_stack
    from dstl_hpc.sources.dstl import read_band, read_rgb

    start = time.perf_counter()
    rgb = read_rgb(layout, image_id)
    bands = {b: read_band(layout, image_id, b) for b in ("P", "M", "A")}
    read_s = time.perf_counter() - start
    stack, alignment = align_image(rgb, bands["P"], bands["M"], bands["A"], image_id, options)
    align_s = time.perf_counter() - start - read_s
    write_stack(out, stack, image_id, alignment, compression)
    write_s = time.perf_counter() - start - read_s - align_s
    shifts = ", ".join(
        f"{b} dx {a['dx']:+.3f} dy {a['dy']:+.3f} cc {a['cc']:.3f}"
        if a["converged"]
        else f"{b} not aligned"
        for b, a in alignment.items()
    )
    log.info(
        "%s: %s; %d x %d stack written to %s (read %.1f s, align %.1f s, write %.1f s, %d threads)",
        image_id,
        shifts,
        stack.shape[1],
        stack.shape[2],
        out,
        read_s,
        align_s,
        write_s,
        threads,
    )
