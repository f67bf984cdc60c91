"""Benchmark: band alignment and stack writing of DSTL-size images on ONE core.

    python benchmarks/align.py [--size 3348 3392] [--images 2] [--quick]

1. Data: ``dstl-hpc synth`` images of the given size (P same size, M 1/4, A 1/25:
   837 x 848 and 134 x 136 for the real size) with known band offsets.
2. ``dstl-hpc align --threads 1`` of each image in a subprocess: wall time and peak
   RSS of the whole command (read TIFFs, align, upscale, write HDF5).
3. In process, one core (cv2.setNumThreads(1), OMP/OPENBLAS/MKL threads 1): seconds
   for the offset estimation, the warping/upscaling to the stack and the HDF5 write,
   stack size on disk, alignment errors against synth_truth.json.
4. (not with --quick) Variants of the estimation (ECC pre-filter size, reference
   image, reference resizing, A's reference, refit, coarse estimate) and of the
   resampling (direct cubic warp vs linear warp + cubic resize): errors, seconds and,
   for resampling, how well the upscaled M5 / M3 / M2 correlate with R / G / B (synth
   renders R, G, B as M5, M3, M2 at full resolution).
5. (not with --quick) HDF5 layouts of one stack: write seconds, MB on disk, whole-stack
   read seconds and random-window read ms (12 channels x 136 x 136, the training
   sampler's rotated 96 px patches).

Writes benchmarks/results/align.json and prints tables. About 6-10 minutes for two
DSTL-size images on one core (1 minute with --quick).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstl_hpc.prepare import align  # noqa: E402
from dstl_hpc.prepare.stacks import write_stack  # noqa: E402
from dstl_hpc.sources.dstl import Layout, read_band, read_rgb  # noqa: E402

BANDS = ("P", "M", "A")
ESTIMATION_VARIANTS = {
    "default": {},
    "gauss 1": {"gauss_filt_size": 1},
    "gauss 3": {"gauss_filt_size": 3},
    "ref resize cubic": {"ref_resize": "cubic"},
    "A to RGB": {"a_reference": "rgb"},
    "no refit": {"refit": 0},
    "no coarse": {"coarse": False},
    "grey (original), gauss 5": {"reference": "grey", "gauss_filt_size": 5},
    "grey (original), gauss 1": {"reference": "grey", "gauss_filt_size": 1},
}
H5_VARIANTS = {
    "gzip1 shuffle 20x128x128 (stacks.py)": dict(
        compression="gzip", level=1, chunks=(20, 128, 128)
    ),
    "lzf shuffle 20x128x128": dict(compression="lzf", chunks=(20, 128, 128)),
    "gzip4 shuffle 20x128x128": dict(compression="gzip", level=4, chunks=(20, 128, 128)),
    "none 20x128x128": dict(compression=None, chunks=(20, 128, 128)),
    "gzip1 shuffle 4x128x128": dict(compression="gzip", level=1, chunks=(4, 128, 128)),
    "lzf shuffle 4x128x128": dict(compression="lzf", chunks=(4, 128, 128)),
    "gzip1 shuffle 20x64x64": dict(compression="gzip", level=1, chunks=(20, 64, 64)),
    "gzip1 shuffle 20x256x256": dict(compression="gzip", level=1, chunks=(20, 256, 256)),
}


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # KiB on Linux


def errors(alignment: dict, truth: dict) -> dict:
    out = {}
    for b in BANDS:
        e = alignment[b]
        if not e["converged"]:
            out[b] = None
            continue
        out[b] = round(max(abs(e["dx"] - truth[b]["dx"]), abs(e["dy"] - truth[b]["dy"])), 4)
    return out


def read_image(layout: Layout, image_id: str):
    return (read_rgb(layout, image_id),) + tuple(read_band(layout, image_id, b) for b in BANDS)


def rgb_match(stack: np.ndarray) -> float:
    """Mean correlation of upscaled M5, M3, M2 with R, G, B (the same spectra in synth)."""
    m = 16  # leave out the borders
    out = []
    for rgb_c, m_c in ((0, 8), (1, 6), (2, 5)):
        x = stack[rgb_c, m:-m:2, m:-m:2].astype(np.float64).ravel()
        y = stack[m_c, m:-m:2, m:-m:2].astype(np.float64).ravel()
        out.append(np.corrcoef(x, y)[0, 1])
    return round(float(np.mean(out)), 5)


def run_cli(data: Path, image_id: str, out: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "dstl_hpc",
        "align",
        str(data),
        image_id,
        str(out),
        "--threads",
        "1",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb_children": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
    }


def h5_write(path: Path, stack: np.ndarray, compression, chunks, level=None) -> float:
    import h5py

    kwargs = {"compression": compression, "shuffle": compression is not None, "chunks": chunks}
    if compression == "gzip":
        kwargs["compression_opts"] = level
    start = time.perf_counter()
    with h5py.File(path, "w") as h5:
        h5.create_dataset("image", data=stack, **kwargs)
    return time.perf_counter() - start


def h5_reads(path: Path, n_windows: int = 200, seed: int = 0) -> tuple[float, float]:
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "r") as h5:
        ds = h5["image"]
        _, h, w = ds.shape
        start = time.perf_counter()
        ds[:]
        full = time.perf_counter() - start
        ys, xs = rng.integers(0, h - 136, n_windows), rng.integers(0, w - 136, n_windows)
        start = time.perf_counter()
        for y, x in zip(ys, xs, strict=True):
            ds[:12, y : y + 136, x : x + 136]
        window_ms = (time.perf_counter() - start) / n_windows * 1000
    return full, window_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=[3348, 3392], metavar=("H", "W"))
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="no variants, no HDF5 layouts")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "align.json"))
    args = ap.parse_args()
    cv2.setNumThreads(1)

    from dstl_hpc.sources.synthetic import generate

    results: dict = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "threads": 1,
        },
        "size": args.size,
    }
    with tempfile.TemporaryDirectory(prefix="bench_align_") as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        start = time.perf_counter()
        truth = generate(
            data, n_images=args.images + 1, n_train=1, size=tuple(args.size), seed=args.seed
        )
        ids = list(truth["offsets"])[: args.images]
        print(f"synth: {len(truth['offsets'])} images in {time.perf_counter() - start:.1f} s")
        layout = Layout(data)

        # 1. the command, as a workflow job runs it
        cli = {}
        for image_id in ids:
            cli[image_id] = run_cli(data, image_id, tmp / "cli" / f"{image_id}.h5")
        results["cli"] = cli

        # 2. in process: estimation, resampling, write
        per_image = {}
        stack = None
        for image_id in ids:
            rgb, p, m, a = read_image(layout, image_id)
            t0 = time.perf_counter()
            alignment = align.estimate_alignment(rgb, p, m, a, image_id)
            t1 = time.perf_counter()
            stack = align.assemble_stack(rgb, p, m, a, alignment)
            t2 = time.perf_counter()
            out = tmp / "stacks" / f"{image_id}.h5"
            write_stack(out, stack, image_id, alignment)
            t3 = time.perf_counter()
            per_image[image_id] = {
                "shapes": {
                    "RGB": list(rgb.shape),
                    "P": list(p.shape),
                    "M": list(m.shape),
                    "A": list(a.shape),
                },
                "estimate_s": round(t1 - t0, 2),
                "resample_s": round(t2 - t1, 2),
                "align_total_s": round(t2 - t0, 2),
                "write_s": round(t3 - t2, 2),
                "stack_mb": round(out.stat().st_size / 1e6, 1),
                "stack_raw_mb": round(stack.nbytes / 1e6, 1),
                "errors_band_px": errors(alignment, truth["offsets"][image_id]),
                "cc": {b: alignment[b]["cc"] for b in BANDS},
                "rgb_match": rgb_match(stack),
            }
            del stack
        results["images"] = per_image
        results["peak_rss_mb_self"] = round(peak_rss_mb(), 1)

        if not args.quick:
            # 3. estimation variants
            variants = {}
            for name, kw in ESTIMATION_VARIANTS.items():
                opts = align.AlignOptions(**kw)
                errs, secs = [], []
                for image_id in ids:
                    rgb, p, m, a = read_image(layout, image_id)
                    t0 = time.perf_counter()
                    al = align.estimate_alignment(rgb, p, m, a, image_id, opts)
                    secs.append(time.perf_counter() - t0)
                    errs.append(errors(al, truth["offsets"][image_id]))
                variants[name] = {
                    "options": kw,
                    "seconds_mean": round(float(np.mean(secs)), 2),
                    "max_error": {
                        b: (None if any(e[b] is None for e in errs) else max(e[b] for e in errs))
                        for b in BANDS
                    },
                }
                print(f"  variant {name}: {variants[name]}", flush=True)
            results["estimation_variants"] = variants

            # 4. resampling variants (first image)
            image_id = ids[0]
            rgb, p, m, a = read_image(layout, image_id)
            alignment = align.estimate_alignment(rgb, p, m, a, image_id)
            resampling = {}
            for mode in ("direct", "two_step"):
                t0 = time.perf_counter()
                stack = align.assemble_stack(rgb, p, m, a, alignment, mode)
                resampling[mode] = {
                    "seconds": round(time.perf_counter() - t0, 2),
                    "rgb_match": rgb_match(stack),
                }
            unaligned = {b: {"dx": 0.0, "dy": 0.0} for b in BANDS}
            stack = align.assemble_stack(rgb, p, m, a, unaligned)
            resampling["direct, unaligned"] = {"seconds": None, "rgb_match": rgb_match(stack)}
            results["resampling"] = resampling

            # 5. HDF5 layouts (first image's stack)
            stack = align.assemble_stack(rgb, p, m, a, alignment)
            layouts = {}
            for name, kw in H5_VARIANTS.items():
                path = tmp / "h5" / f"{len(layouts)}.h5"
                path.parent.mkdir(exist_ok=True)
                write_s = h5_write(path, stack, kw["compression"], kw["chunks"], kw.get("level"))
                full_s, window_ms = h5_reads(path)
                layouts[name] = {
                    "write_s": round(write_s, 2),
                    "mb": round(path.stat().st_size / 1e6, 1),
                    "read_full_s": round(full_s, 2),
                    "read_window_ms": round(window_ms, 2),
                }
                path.unlink()
                print(f"  h5 {name}: {layouts[name]}", flush=True)
            results["h5_layouts"] = layouts
            results["peak_rss_mb_self"] = round(peak_rss_mb(), 1)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    print(f"wrote {args.out}")
    return 0


def print_tables(r: dict) -> None:
    print(f"\nalign, one core, {r['size'][0]} x {r['size'][1]} (OpenCV {r['machine']['opencv']})")
    print(f"{'image':10s} {'cli s':>6s} {'rss MB':>7s} {'estim s':>7s} {'resamp s':>8s} "
          f"{'write s':>7s} {'MB':>6s} {'err P':>6s} {'err M':>6s} {'err A':>6s}")  # fmt: skip
    for image_id, e in r["images"].items():
        c = r["cli"][image_id]
        err = e["errors_band_px"]
        print(
            f"{image_id:10s} {c['seconds']:6.1f} {c['peak_rss_mb_children']:7.0f} "
            f"{e['estimate_s']:7.1f} {e['resample_s']:8.1f} {e['write_s']:7.1f} "
            f"{e['stack_mb']:6.0f} "
            + " ".join(f"{'fail' if err[b] is None else err[b]:>6}" for b in BANDS)
        )
    if "estimation_variants" in r:
        print(f"\n{'estimation variant':28s} {'s':>5s} {'max err P':>9s} {'M':>6s} {'A':>6s}")
        for name, v in r["estimation_variants"].items():
            e = v["max_error"]
            print(
                f"{name:28s} {v['seconds_mean']:5.1f} "
                + " ".join(
                    f"{'fail' if e[b] is None else e[b]:>{9 if b == 'P' else 6}}" for b in BANDS
                )
            )
        print(f"\n{'resampling':20s} {'s':>5s} {'corr M5/3/2 ~ R/G/B':>21s}")
        for name, v in r["resampling"].items():
            s = "" if v["seconds"] is None else f"{v['seconds']:.1f}"
            print(f"{name:20s} {s:>5s} {v['rgb_match']:21.5f}")
        print(f"\n{'HDF5 layout':38s} {'write s':>7s} {'MB':>6s} {'read s':>6s} {'window ms':>9s}")
        for name, v in r["h5_layouts"].items():
            print(
                f"{name:38s} {v['write_s']:7.2f} {v['mb']:6.0f} {v['read_full_s']:6.2f} "
                f"{v['read_window_ms']:9.2f}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
