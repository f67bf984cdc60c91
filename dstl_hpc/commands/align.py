"""dstl-hpc align DATA_DIR IMAGE_ID OUT.h5 [--threads N] [alignment options]"""

from __future__ import annotations

import argparse
import logging
import os
import time

from dstl_hpc.argtypes import positive_int

log = logging.getLogger("dstl_hpc.align")


def _threads_default() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _odd(text: str) -> int:
    value = int(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be odd and >= 1, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dstl_hpc.align import AlignOptions

    d = AlignOptions()
    p.add_argument("data_dir", metavar="DATA_DIR", help="DSTL-layout data directory")
    p.add_argument("image_id", metavar="IMAGE_ID", help="image to align, e.g. 6120_2_2")
    p.add_argument("out", metavar="OUT.h5", help="stack to write (HDF5, see dstl_hpc.stacks)")
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


def run(args) -> int:
    import cv2

    from dstl_hpc.align import AlignOptions, align_image
    from dstl_hpc.dataset import Layout, read_band, read_rgb
    from dstl_hpc.paths import H5, guard_outputs
    from dstl_hpc.stacks import write_stack

    layout = Layout(args.data_dir)
    guard_outputs(
        {"OUT.h5": args.out},
        layout.image_files(args.image_id),
        suffixes={"OUT.h5": H5},
        data_dirs=[args.data_dir],
    )
    threads = args.threads or _threads_default()
    cv2.setNumThreads(threads)
    options = AlignOptions(
        gauss_filt_size=args.gauss_filt_size,
        reference=args.reference,
        a_reference=args.a_reference,
        ref_resize=args.ref_resize,
        resample=args.resample,
        coarse=args.coarse,
    )
    start = time.perf_counter()
    rgb = read_rgb(layout, args.image_id)
    bands = {b: read_band(layout, args.image_id, b) for b in ("P", "M", "A")}
    read_s = time.perf_counter() - start
    stack, alignment = align_image(rgb, bands["P"], bands["M"], bands["A"], args.image_id, options)
    align_s = time.perf_counter() - start - read_s
    write_stack(args.out, stack, args.image_id, alignment)
    write_s = time.perf_counter() - start - read_s - align_s
    shifts = ", ".join(
        f"{b} dx {a['dx']:+.3f} dy {a['dy']:+.3f} cc {a['cc']:.3f}"
        if a["converged"]
        else f"{b} not aligned"
        for b, a in alignment.items()
    )
    log.info(
        "%s: %s; %d x %d stack written to %s (read %.1f s, align %.1f s, write %.1f s, %d threads)",
        args.image_id,
        shifts,
        stack.shape[1],
        stack.shape[2],
        args.out,
        read_s,
        align_s,
        write_s,
        threads,
    )
    return 0
