"""The project's own rasteriser and tracer against ``rasterio.features`` (GDAL).

On the same synthetic masks (many buildings, blobs, rings with holes and thin roads,
at the same object density for every size), times:

- rasterise: ``rasterize(geom, shape)`` of ``dstl_hpc.prepare.raster`` (a numpy scanline,
  pixel-centre rule) vs ``rasterio.features.rasterize`` (GDAL, pixel-centre rule,
  ``all_touched=False``), and the agreement of the two masks (IoU, differing pixels);
- ties: the tracer's polygons simplified at ``--tie-epsilon`` (integer vertices, so
  diagonal edges run through pixel centres, as the scorer meets them) rasterised by both:
  the pixels that differ, with GDAL as is and with the columns mirrored (GDAL's spans are
  ``(enter, leave]``, the project's ``[enter, leave)``);
- trace: ``mask_to_polygons`` of ``dstl_hpc.polygons.trace`` (cv2 contours of the 2x
  upsampled mask, exact pixel edges) vs ``rasterio.features.shapes`` (GDAL Polygonize,
  4-connected) vs the geo source's ``trace_probability`` (connected components + shapes,
  block by block, pieces joined across blocks), and each one's round trip: its polygons
  rasterised back with ``rasterio.features.rasterize`` against the mask (IoU, should be 1).

Pixel coordinates everywhere (identity transform: pixel (r, c) is [c, c+1) x [r, r+1)).

    python benchmarks/rasterio_features.py                  # 1024 and 3348 px
    python benchmarks/rasterio_features.py --sizes 512 --repeat 1

Writes --out (benchmarks/results/rasterio_features.json) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OBJECTS_PER_MPX = 900  # about the DSTL training images' building density


def project_functions():
    """(rasterize, mask_to_polygons) of the project (the rasteriser is moving to
    dstl_hpc.prepare.raster)."""
    try:
        from dstl_hpc.prepare.raster import rasterize
    except ImportError:
        from dstl_hpc.raster import rasterize
    from dstl_hpc.polygons.trace import mask_to_polygons

    return rasterize, mask_to_polygons


def synthetic_geometry(size: int, seed: int):
    """A valid MultiPolygon in pixel coordinates of a size x size image: rotated
    rectangles (buildings), ellipses (trees), rectangles with holes (yards), thin
    buffered lines (tracks)."""
    import shapely
    from shapely import affinity
    from shapely.geometry import LineString, Point, box

    rng = np.random.default_rng(seed)
    n = max(int(OBJECTS_PER_MPX * size * size / 1e6), 20)
    parts = []
    for _ in range(n):
        x, y = rng.uniform(0, size, 2)
        kind = rng.random()
        if kind < 0.55:
            w, h = rng.uniform(4, 30, 2)
            g = affinity.rotate(box(x, y, x + w, y + h), rng.uniform(0, 90), origin="centroid")
        elif kind < 0.85:
            r = rng.uniform(2, 14)
            g = affinity.scale(Point(x, y).buffer(r, 8), 1.0, rng.uniform(0.4, 1.0))
        elif kind < 0.95:
            w = rng.uniform(12, 40)
            g = box(x, y, x + w, y + w).difference(box(x + 3, y + 3, x + w - 3, y + w - 3))
        else:
            dx, dy = rng.uniform(-150, 150, 2)
            g = LineString([(x, y), (x + dx, y + dy)]).buffer(rng.uniform(0.8, 3))
        parts.append(g)
    geom = shapely.union_all(parts)
    return shapely.clip_by_rect(geom, 0, 0, size, size), n


def best_of(fn, repeat: int):
    """(result of the last call, best seconds)."""
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def polygons_of(geom) -> list:
    if geom.is_empty:
        return []
    return list(getattr(geom, "geoms", [geom]))


def gdal_rasterize(polys, shape):
    from affine import Affine
    from rasterio.features import rasterize

    out = np.zeros(shape, np.uint8)
    if polys:
        rasterize([(p, 1) for p in polys], out=out, transform=Affine.identity(), all_touched=False)
    return out


def gdal_rasterize_mirrored(polys, shape):
    """GDAL with the columns mirrored (x -> width - x, output flipped back): its
    ``(enter, leave]`` spans become the project's ``[enter, leave)``."""
    from affine import Affine
    from rasterio.features import rasterize

    out = np.zeros(shape, np.uint8)
    if polys:
        mirror = Affine(-1.0, 0.0, float(shape[1]), 0.0, 1.0, 0.0)
        rasterize([(p, 1) for p in polys], out=out, transform=mirror, all_touched=False)
    return np.ascontiguousarray(out[:, ::-1])


def run_size(size: int, seed: int, repeat: int, block: int, tie_epsilon: float = 1.0) -> dict:
    from affine import Affine
    from rasterio.features import shapes
    from shapely.geometry import shape as to_shape

    from dstl_hpc.sources.geo.vectorize import trace_probability

    rasterize, mask_to_polygons = project_functions()
    geom, n_objects = synthetic_geometry(size, seed)
    polys = polygons_of(geom)
    shp = (size, size)
    record = {"size": size, "objects": n_objects, "polygons_in": len(polys)}

    own_mask, own_s = best_of(lambda: rasterize(geom, shp), repeat)
    gdal_mask, gdal_s = best_of(lambda: gdal_rasterize(polys, shp), repeat)
    record["rasterize"] = {
        "project_s": own_s,
        "rasterio_s": gdal_s,
        "speedup_rasterio": own_s / gdal_s,
        "mask_pixels": int(own_mask.sum()),
        "iou_project_vs_rasterio": iou(own_mask, gdal_mask),
        "pixels_differing": int(np.count_nonzero(own_mask != gdal_mask)),
        "area_px": float(geom.area),
    }

    simplified = mask_to_polygons(own_mask, epsilon=tie_epsilon)
    own_tie = rasterize(simplified, shp)
    tie_polys = polygons_of(simplified)
    record["rasterize_ties"] = {
        "epsilon": tie_epsilon,
        "mask_pixels": int(own_tie.sum()),
        "pixels_differing_rasterio": int(
            np.count_nonzero(own_tie != gdal_rasterize(tie_polys, shp))
        ),
        "pixels_differing_rasterio_mirrored": int(
            np.count_nonzero(own_tie != gdal_rasterize_mirrored(tie_polys, shp))
        ),
    }

    mask = own_mask
    prob = mask[None].astype(np.float32)
    valid = np.ones(shp, bool)

    def gdal_trace():
        return [
            to_shape(g)
            for g, _ in shapes(mask, mask=mask.astype(bool), connectivity=4,
                               transform=Affine.identity())
        ]  # fmt: skip

    def geo_trace():
        def read_window(w):
            r, c, h, wd = w
            return prob[:, r : r + h, c : c + wd], valid[r : r + h, c : c + wd]

        return [g for g, _, _ in trace_probability(read_window, shp, Affine.identity(), 0, 0.5,
                                                   block=block)]  # fmt: skip

    own_polys, own_t = best_of(lambda: polygons_of(mask_to_polygons(mask)), repeat)
    gdal_polys, gdal_t = best_of(gdal_trace, repeat)
    geo_polys, geo_t = best_of(geo_trace, repeat)
    record["trace"] = {
        "project_s": own_t,
        "rasterio_shapes_s": gdal_t,
        "geo_trace_probability_s": geo_t,
        "geo_block": block,
        "polygons": {
            "project": len(own_polys),
            "rasterio_shapes": len(gdal_polys),
            "geo_trace_probability": len(geo_polys),
        },
        "area_px": {
            "project": float(sum(p.area for p in own_polys)),
            "rasterio_shapes": float(sum(p.area for p in gdal_polys)),
            "geo_trace_probability": float(sum(p.area for p in geo_polys)),
        },
        # each tracer's polygons rasterised back (GDAL, pixel centres) vs the mask
        "round_trip_iou": {
            "project": iou(gdal_rasterize(own_polys, shp), mask),
            "project_own_rasterize": iou(rasterize(mask_to_polygons(mask), shp), mask),
            "rasterio_shapes": iou(gdal_rasterize(gdal_polys, shp), mask),
            "geo_trace_probability": iou(gdal_rasterize(geo_polys, shp), mask),
        },
    }
    return record


def machine() -> dict:
    import cv2
    import rasterio
    import shapely

    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "shapely": shapely.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
    }


def table(records: list[dict]) -> str:
    lines = [
        f"{'size':>6} {'polys':>6}  {'rasterize s (own / gdal)':>26} {'IoU':>8}  "
        f"{'ties differ px (gdal / mirrored)':>33}  "
        f"{'trace s (own / gdal / geo)':>30}  {'round-trip IoU (own / gdal / geo)':>34}"
    ]
    for r in records:
        ra, tr = r["rasterize"], r["trace"]
        rt = tr["round_trip_iou"]
        lines.append(
            f"{r['size']:>6} {r['polygons_in']:>6}  "
            f"{ra['project_s']:>12.3f} / {ra['rasterio_s']:<11.3f} "
            f"{ra['iou_project_vs_rasterio']:>8.6f}  "
            f"{r['rasterize_ties']['pixels_differing_rasterio']:>18} / "
            f"{r['rasterize_ties']['pixels_differing_rasterio_mirrored']:<12}  "
            f"{tr['project_s']:>8.3f} / {tr['rasterio_shapes_s']:<7.3f}/ "
            f"{tr['geo_trace_probability_s']:<9.3f}  "
            f"{rt['project']:>10.6f} / {rt['rasterio_shapes']:.6f} / "
            f"{rt['geo_trace_probability']:.6f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Time the project's rasterize and mask_to_polygons against "
        "rasterio.features.rasterize and rasterio.features.shapes on synthetic masks.",
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 3348], help="mask sides, px")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timings: best of this many runs")
    ap.add_argument(
        "--block",
        type=int,
        default=512,
        help="block of the geo source's trace_probability (small, to time the joins)",
    )
    ap.add_argument(
        "--tie-epsilon",
        type=float,
        default=1.0,
        help="simplification of the traced polygons rasterised for the ties (default 1.0)",
    )
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "rasterio_features.json"
    )
    args = ap.parse_args(argv)

    import cv2

    from dstl_hpc.atomic import write_json

    cv2.setNumThreads(args.threads)
    records = [
        run_size(s, args.seed + s, args.repeat, args.block, args.tie_epsilon) for s in args.sizes
    ]
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/rasterio_features.py", *sys.argv[1:]]),
            "objects_per_mpx": OBJECTS_PER_MPX,
            "repeat": args.repeat,
            "machine": machine(),
            "results": records,
        },
    )
    print(table(records))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
