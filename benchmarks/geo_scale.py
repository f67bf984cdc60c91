"""The geo source's per-step commands on one large scene: time and peak memory.

Writes a synthetic scene (default 20,000 x 20,000 px, 4-band uint16 GeoTIFF, tiled and
DEFLATE-compressed, written block by block; a road grid, a meandering river, buildings,
tree stands and a nodata corner) with a labels GeoPackage (`landuse` field), then runs
the per-step commands as subprocesses, exactly as the workflow's rules run them
(`python -m dstl_hpc ...`):

- `geo-check` (the scene is a `train` scene, so the labels are read and counted);
- `geo-chips` on a batch of chips (default 16 chips of 512 px, overlap 32) spread over
  the scene: stacks and masks (labels rasterised);
- `predict` (the real `dstl-hpc predict PREDICTOR STACKS --out-dir`, one thread) on those
  chips with a tiny untrained UNet (`build_model` + `save_model_file`, then
  `dstl-hpc predictor --settings`);
- `geo-stitch` of the WHOLE scene: every chip's prediction HDF5 is written cheaply with
  `write_prediction` (probabilities from the scene's own shapes, not the model) and its
  stack holds only what geo-stitch reads (the `valid` plane);
- `geo-vectorize` of the whole scene's probability COG (threshold 0.5).

Each step's wall time, time per megapixel and the PEAK RSS of its process (``ru_maxrss``
of ``os.wait4``) are recorded, at every ``--size`` (default 5000 then 20000), so the
peak memory can be compared across scene sizes: a step whose memory is bounded by a chip
or block keeps the same peak at both sizes.

    python benchmarks/geo_scale.py                      # 5k then 20k scene (~15 min)
    python benchmarks/geo_scale.py --size 2000 --keep --work /tmp/geo-scale

Writes --out (benchmarks/results/geo_scale.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLASSES = ("building", "road", "water", "trees")
CLASS_FIELD = "landuse"
VALUES = {"building": "Building", "road": "Road", "water": "Water", "trees": "Trees"}
CHANNELS = ("blue", "green", "red", "nir")
EPSG = 32631
PIXEL = 2.0  # m
ORIGIN = (400000.0, 5700000.0)  # upper left, UTM 31N
BLOCK = 512  # GeoTIFF tile side
ROAD_EVERY, ROAD_WIDTH = 1000, 12
CELL = 100  # building cells
TREE_CELL = 500
RIVER_EVERY, RIVER_HALF = 5000, 40
NODATA_CORNER = 1500  # pixels with row + col < this are nodata
# Reflectance per class (blue, green, red, nir); background first.
SIGNATURES = {
    "background": (800, 1000, 1100, 2500),
    "trees": (400, 700, 500, 3500),
    "building": (1500, 1500, 1600, 1800),
    "road": (1200, 1200, 1250, 1300),
    "water": (600, 500, 300, 150),
}
PAINT_ORDER = ("trees", "building", "road", "water")  # later wins


# ------------------------------------------------------------------ the procedural scene
def _hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) per integer pair (a, b), vectorised (a splitmix-style mix)."""
    a, b = np.broadcast_arrays(a.astype(np.uint64), b.astype(np.uint64))
    h = a * np.uint64(0x9E3779B97F4A7C15)
    h ^= b * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(salt)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _buildings(cy: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, ...]:
    """(present, y0, x0, h, w) of the building in each cell (in-cell pixel offsets)."""
    present = (_hash(cy, cx, 1) < 0.35) & (cy % (ROAD_EVERY // CELL) != 0)
    present &= cx % (ROAD_EVERY // CELL) != 0
    h = 16 + (_hash(cy, cx, 2) * 50).astype(np.int64)
    w = 16 + (_hash(cy, cx, 3) * 50).astype(np.int64)
    y0 = 8 + (_hash(cy, cx, 4) * (CELL - 16 - h)).astype(np.int64)
    x0 = 8 + (_hash(cy, cx, 5) * (CELL - 16 - w)).astype(np.int64)
    return present, y0, x0, h, w


def _trees(ty: np.ndarray, tx: np.ndarray) -> tuple[np.ndarray, ...]:
    """(present, centre row, centre col, radius) of the tree stand in each tree cell."""
    present = _hash(ty, tx, 6) < 0.5
    r = 60 + _hash(ty, tx, 7) * 120
    cy = ty * TREE_CELL + TREE_CELL / 2 + (_hash(ty, tx, 8) - 0.5) * 100
    cx = tx * TREE_CELL + TREE_CELL / 2 + (_hash(ty, tx, 9) - 0.5) * 100
    return present, cy, cx, r


def _river_centre(x: np.ndarray) -> np.ndarray:
    return 1200 + 300 * np.sin(2 * np.pi * x / 4000.0)


def _per_pixel(params, y: np.ndarray, x: np.ndarray, cell: int) -> list[np.ndarray]:
    """The cell parameters ``params(cy, cx)`` of the cells of a window, per pixel."""
    cy, cx = y[:, 0] // cell, x[0] // cell
    ucy, iy = np.unique(cy, return_inverse=True)
    ucx, ix = np.unique(cx, return_inverse=True)
    return [p[iy[:, None], ix[None, :]] for p in params(ucy[:, None], ucx[None, :])]


def class_planes(r0: int, c0: int, h: int, w: int) -> dict[str, np.ndarray]:
    """bool (h, w) per class of the window (global pixel rows r0.., cols c0..)."""
    y = np.arange(r0, r0 + h, dtype=np.int64)[:, None]
    x = np.arange(c0, c0 + w, dtype=np.int64)[None, :]
    road = ((y % ROAD_EVERY) < ROAD_WIDTH) | ((x % ROAD_EVERY) < ROAD_WIDTH)
    water = np.abs((y % RIVER_EVERY) - _river_centre(x + 0.5)) < RIVER_HALF
    present, by0, bx0, bh, bw = _per_pixel(_buildings, y, x, CELL)
    iy, ix = y % CELL, x % CELL
    building = present & (iy >= by0) & (iy < by0 + bh) & (ix >= bx0) & (ix < bx0 + bw)
    tp, tcy, tcx, tr = _per_pixel(_trees, y, x, TREE_CELL)
    trees = tp & ((y + 0.5 - tcy) ** 2 + (x + 0.5 - tcx) ** 2 < tr**2)
    return {"building": building, "road": road, "water": water, "trees": trees}


def valid_plane(r0: int, c0: int, h: int, w: int) -> np.ndarray:
    y = np.arange(r0, r0 + h)[:, None]
    x = np.arange(c0, c0 + w)[None, :]
    return (y + x) >= NODATA_CORNER


def paint(r0: int, c0: int, h: int, w: int, rng) -> np.ndarray:
    """uint16 (4, h, w) bands of the window: class signatures, a smooth texture, noise,
    0 (nodata) in the corner."""
    planes = class_planes(r0, c0, h, w)
    sig = np.empty((4, h, w), np.float32)
    sig[:] = np.asarray(SIGNATURES["background"], np.float32)[:, None, None]
    for name in PAINT_ORDER:
        m = planes[name]
        for b in range(4):
            sig[b][m] = SIGNATURES[name][b]
    y = np.arange(r0, r0 + h, dtype=np.float32)[:, None]
    x = np.arange(c0, c0 + w, dtype=np.float32)[None, :]
    sig += (120 * np.sin(x / 300.0) * np.cos(y / 450.0))[None]
    sig += rng.integers(0, 32, size=sig.shape, dtype=np.uint16)
    out = np.clip(sig, 1, 65535).astype(np.uint16)
    out[:, ~valid_plane(r0, c0, h, w)] = 0
    return out


def write_scene(path: Path, size: int, seed: int) -> None:
    """The scene GeoTIFF, band row by band row (memory: one 512 x 4096 window)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff", width=size, height=size, count=4, dtype="uint16",
        crs=f"EPSG:{EPSG}", transform=from_origin(*ORIGIN, PIXEL, PIXEL), nodata=0,
        tiled=True, blockxsize=BLOCK, blockysize=BLOCK, compress="deflate", zlevel=1,
        predictor=2, interleave="pixel", bigtiff="IF_SAFER", num_threads="ALL_CPUS",
    )  # fmt: skip
    step = 4096
    with rasterio.Env(GDAL_CACHEMAX=256), rasterio.open(path, "w", **profile) as dst:
        for b, name in enumerate(CHANNELS, 1):
            dst.set_band_description(b, name)
        for r0 in range(0, size, BLOCK):
            h = min(BLOCK, size - r0)
            for c0 in range(0, size, step):
                w = min(step, size - c0)
                dst.write(paint(r0, c0, h, w, rng), window=Window(c0, r0, w, h))


def to_map(geoms):
    """Shapely geometries in pixel coordinates (x = col, y = row) -> map coordinates."""
    import shapely

    def apply(xy):
        return np.column_stack([ORIGIN[0] + xy[:, 0] * PIXEL, ORIGIN[1] - xy[:, 1] * PIXEL])

    return shapely.transform(np.asarray(geoms, dtype=object), apply)


def write_labels(path: Path, size: int) -> dict:
    """labels.gpkg: every building, road, river reach and tree stand of the scene as a
    polygon with `landuse` (EPSG:32631)."""
    import geopandas as gpd
    import shapely

    rows: list[tuple[str, object]] = []
    n = -(-size // CELL)
    cy, cx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cy, cx = cy.ravel(), cx.ravel()
    present, y0, x0, h, w = _buildings(cy, cx)
    ys, xs = cy * CELL + y0, cx * CELL + x0
    boxes = shapely.box(xs, ys, xs + w, ys + h)[present]
    rows += [("building", g) for g in boxes]
    for k in range(0, size, ROAD_EVERY):
        rows.append(("road", shapely.box(0, k, size, k + ROAD_WIDTH)))
        rows.append(("road", shapely.box(k, 0, k + ROAD_WIDTH, size)))
    xline = np.linspace(0, size, max(size // 20, 2) + 1)
    for k in range(0, size, RIVER_EVERY):
        centre = k + _river_centre(xline)
        ring = np.concatenate(
            [np.column_stack([xline, centre - RIVER_HALF]),
             np.column_stack([xline[::-1], (centre + RIVER_HALF)[::-1]])]
        )  # fmt: skip
        rows.append(("water", shapely.Polygon(ring)))
    nt = -(-size // TREE_CELL)
    ty, tx = np.meshgrid(np.arange(nt), np.arange(nt), indexing="ij")
    tp, tcy, tcx, tr = _trees(ty.ravel(), tx.ravel())
    circles = shapely.buffer(shapely.points(tcx, tcy), tr, quad_segs=16)[tp]
    rows += [("trees", g) for g in circles]
    frame = shapely.box(0, 0, size, size)
    geoms = shapely.intersection(np.asarray([g for _, g in rows], dtype=object), frame)
    keep = ~shapely.is_empty(geoms)
    gdf = gpd.GeoDataFrame(
        {CLASS_FIELD: [VALUES[c] for (c, _), k in zip(rows, keep, strict=True) if k]},
        geometry=list(to_map(geoms[keep])),
        crs=f"EPSG:{EPSG}",
    )
    gdf.to_file(path, layer="labels", driver="GPKG", engine="pyogrio")
    return {str(k): int(v) for k, v in gdf[CLASS_FIELD].value_counts().sort_index().items()}


# ------------------------------------------------------------------ running steps
# Linux keeps the exec'ing process's old memory high-water mark in ``ru_maxrss``: a child
# forked from this (large) process would report at least this process's RSS. A small
# launcher forks the step from a fresh interpreter and reports the step's own peak.
LAUNCHER = """
import os, sys
out, cmd = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_step(cmd: list[str], log: Path, env_extra: dict | None = None) -> dict:
    """Run ``cmd``; its wall s and peak RSS (MiB; ``ru_maxrss`` of ``os.wait4``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(env_extra or {})
    rss = log.with_suffix(".maxrss")
    with open(log, "w") as out:
        t0 = time.perf_counter()
        rc = subprocess.call(
            [sys.executable, "-c", LAUNCHER, str(rss), *cmd],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )  # fmt: skip
        wall = time.perf_counter() - t0
    if rc:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({rc}):\n{tail}")
    return {"wall_s": round(wall, 3), "peak_rss_mib": round(int(rss.read_text()) / 1024, 1)}


def dstl(*args) -> list[str]:
    return [sys.executable, "-m", "dstl_hpc", *map(str, args)]


def spec_of(work: Path, scene: Path, labels: Path, chip: int, overlap: int) -> dict:
    return {
        "scenes": {"s": {"split": "train", "files": [{"path": str(scene), "bands": None}]}},
        "scene_table": None,
        "bands": None,
        "resolution": None,
        "value_range": None,
        "classes": {c: [VALUES[c]] for c in CLASSES},
        "class_field": CLASS_FIELD,
        "labels": [str(labels)],
        "labelled_area": [],
        "chip_size": chip,
        "chip_overlap": overlap,
    }


def write_predictor(path: Path, filters_base: int, tile: int) -> None:
    """A tiny untrained UNet as the workflow's predictor.pt (model.pt, then
    `dstl-hpc predictor --settings`)."""
    import torch

    from dstl_hpc.config.settings import merge_settings
    from dstl_hpc.predict.settings import PredictSettings
    from dstl_hpc.train.model import build_model, save_model_file

    torch.manual_seed(0)
    classes = list(range(1, len(CLASSES) + 1))
    hp = merge_settings(
        {"classes": classes, "n_channels": len(CHANNELS), "filters_base": filters_base,
         "top_scale": 2, "patch_inner": 64, "patch_border": 16}
    )  # fmt: skip
    net = build_model(hp, n_in=len(CHANNELS), n_classes=len(classes))
    meta = {
        "hparams": hp, "classes": classes, "channels": list(CHANNELS),
        "mean": [1000.0, 1000.0, 1000.0, 2000.0], "std": [400.0] * 4,
        "group": "all", "variant": "all", "epochs_done": 0,
    }  # fmt: skip
    model = path.with_name("model.pt")
    save_model_file(model, net, meta)
    settings = PredictSettings(tile=tile, shift_average=False).to_json()
    from dstl_hpc.cli import main as cli

    if cli(["predictor", str(model), str(path), "--settings", settings]) != 0:
        raise SystemExit("dstl-hpc predictor failed")


def fake_chip_files(check: dict, scene: str, pred_dir: Path, stack_dir: Path) -> tuple:
    """Every chip's prediction (probabilities from the scene's shapes plus noise) and a
    stack with the valid plane only (one zero channel): what geo-stitch reads."""
    from dstl_hpc.prepare.stacks import write_prediction, write_stack
    from dstl_hpc.sources.geo.chips import chip_id, chip_windows

    spec = check["spec"]
    grid = check["scenes"][scene]["grid"]
    windows = chip_windows(grid["height"], grid["width"], spec["chip_size"], spec["chip_overlap"])
    pred_dir.mkdir(parents=True, exist_ok=True)
    stack_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    preds, stacks = [], []
    for ri, ci, r0, c0, h, w in windows:
        cid = chip_id(scene, ri, ci)
        planes = class_planes(r0, c0, h, w)
        prob = np.stack([np.where(planes[c], 225, 20).astype(np.uint8) for c in CLASSES])
        prob += rng.integers(0, 16, size=prob.shape, dtype=np.uint8)
        p, s = pred_dir / f"{cid}.h5", stack_dir / f"{cid}.h5"
        write_prediction(p, prob, cid, list(range(1, len(CLASSES) + 1)), group="all")
        write_stack(
            s, np.zeros((1, h, w), np.uint16), cid, channels=["zero"],
            valid=valid_plane(r0, c0, h, w),
        )  # fmt: skip
        preds.append(p)
        stacks.append(s)
    return preds, stacks


def pick_chips(windows: list, n: int) -> list:
    """``n`` chips spread evenly over the scene's chip list (row-major)."""
    idx = np.unique(np.linspace(0, len(windows) - 1, min(n, len(windows))).round().astype(int))
    return [windows[i] for i in idx]


def run_size(size: int, work: Path, args) -> dict:
    from dstl_hpc.sources.geo.chips import chip_id, chip_windows

    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    mpx = size * size / 1e6
    rec: dict = {"size": size, "scene_mpx": mpx, "steps": {}}

    t0 = time.perf_counter()
    scene = work / "scene.tif"
    write_scene(scene, size, args.seed)
    labels = work / "labels.gpkg"
    rec["labels"] = write_labels(labels, size)
    rec["write_inputs_s"] = round(time.perf_counter() - t0, 1)
    rec["scene_tif_mib"] = round(scene.stat().st_size / 2**20, 1)
    print(f"[{size}] scene {rec['scene_tif_mib']} MiB, labels {rec['labels']} "
          f"({rec['write_inputs_s']} s)", flush=True)  # fmt: skip

    check_path = work / "check.json"
    spec = spec_of(work, scene, labels, args.chip, args.overlap)
    step = run_step(dstl("geo-check", check_path, "--spec", json.dumps(spec)), logs / "check.log")
    rec["steps"]["geo-check"] = {**step, "mpx": mpx}
    check = json.loads(check_path.read_text())
    windows = chip_windows(size, size, args.chip, args.overlap)
    rec["chips_in_scene"] = len(windows)
    print(f"[{size}] geo-check {step}; {len(windows)} chips", flush=True)

    chips = pick_chips(windows, args.chips)
    ids = [chip_id("s", w[0], w[1]) for w in chips]
    chip_mpx = sum(w[4] * w[5] for w in chips) / 1e6
    stacks, masks = work / "stacks", work / "masks"
    step = run_step(
        dstl("geo-chips", check_path, *ids, "--stacks-out", stacks, "--masks-out", masks,
             "--compression", "gzip"),
        logs / "chips.log",
    )  # fmt: skip
    rec["steps"]["geo-chips"] = {**step, "mpx": chip_mpx, "chips": len(ids)}
    print(f"[{size}] geo-chips {step}", flush=True)

    predictor = work / "predictor.pt"
    write_predictor(predictor, args.filters_base, args.tile)
    step = run_step(
        dstl("predict", predictor, *(stacks / f"{i}.h5" for i in ids), "--out-dir",
             work / "predictions", "--device", "cpu", "--threads", "1"),
        logs / "predict.log",
    )  # fmt: skip
    rec["steps"]["predict"] = {**step, "mpx": chip_mpx, "chips": len(ids)}
    print(f"[{size}] predict {step}", flush=True)

    t0 = time.perf_counter()
    preds, fstacks = fake_chip_files(check, "s", work / "all_pred", work / "all_stacks")
    rec["write_chip_predictions_s"] = round(time.perf_counter() - t0, 1)
    cog = work / "s.tif"
    stitch = dstl("geo-stitch", cog, check_path, "s", "--predictions", *preds, "--stacks", *fstacks)
    if args.cachemax:
        # GDAL's block cache (default 5 % of the RAM) bounds what the writer keeps
        cog.unlink(missing_ok=True)
        step = run_step(stitch, logs / "stitch_cache.log", {"GDAL_CACHEMAX": str(args.cachemax)})
        rec["steps"][f"geo-stitch GDAL_CACHEMAX={args.cachemax}"] = {
            **step,
            "mpx": mpx,
            "chips": len(preds),
        }
        print(f"[{size}] geo-stitch, GDAL_CACHEMAX={args.cachemax} MB: {step}", flush=True)
        cog.unlink()
    step = run_step(stitch, logs / "stitch.log")
    rec["steps"]["geo-stitch"] = {**step, "mpx": mpx, "chips": len(preds)}
    rec["cog_mib"] = round(cog.stat().st_size / 2**20, 1)
    print(f"[{size}] geo-stitch {step} ({len(preds)} chips written in "
          f"{rec['write_chip_predictions_s']} s)", flush=True)  # fmt: skip

    settings = {c: {"threshold": 0.5, "epsilon": 1.0, "min_area": 8} for c in CLASSES}
    gpkg = work / "s.gpkg"
    vectorize = dstl("geo-vectorize", gpkg, check_path, "s", cog, "--class-settings",
                     json.dumps(settings))  # fmt: skip
    step = run_step(vectorize, logs / "vectorize.log")
    rec["steps"]["geo-vectorize"] = {**step, "mpx": mpx}
    if args.cachemax:
        gpkg.unlink()
        step = run_step(vectorize, logs / "vectorize_cache.log",
                        {"GDAL_CACHEMAX": str(args.cachemax)})  # fmt: skip
        rec["steps"][f"geo-vectorize GDAL_CACHEMAX={args.cachemax}"] = {**step, "mpx": mpx}
        print(f"[{size}] geo-vectorize, GDAL_CACHEMAX={args.cachemax} MB: {step}", flush=True)
    text = (logs / "vectorize.log").read_text()
    rec["polygons"] = int(text.rsplit(":", 1)[-1].split()[0]) if "polygons" in text else None
    print(f"[{size}] geo-vectorize {rec['steps']['geo-vectorize']}, {rec['polygons']} polygons")

    for name, s in rec["steps"].items():
        s["s_per_mpx"] = round(s["wall_s"] / s["mpx"], 3)
        if name in ("geo-chips", "predict"):
            s["s_per_chip"] = round(s["wall_s"] / s["chips"], 3)
    return rec


def machine() -> dict:
    import rasterio

    return {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "python": platform.python_version(),
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }


def table(records: list[dict]) -> str:
    lines = [f"{'size':>6} {'step':<36} {'wall s':>8} {'s/Mpx':>8} {'s/chip':>7} {'peak MiB':>9}"]
    for r in records:
        for name, s in r["steps"].items():
            per_chip = f"{s['s_per_chip']:.2f}" if "s_per_chip" in s else "-"
            lines.append(
                f"{r['size']:>6} {name:<36} {s['wall_s']:>8.1f} {s['s_per_mpx']:>8.3f} "
                f"{per_chip:>7} {s['peak_rss_mib']:>9.0f}"
            )
    if len(records) > 1:
        lo, hi = records[0], records[-1]
        lines.append(f"peak RSS ratio {hi['size']} / {lo['size']} (scene area x "
                     f"{hi['scene_mpx'] / lo['scene_mpx']:.0f}):")  # fmt: skip
        for name in hi["steps"]:
            a, b = lo["steps"][name]["peak_rss_mib"], hi["steps"][name]["peak_rss_mib"]
            lines.append(f"  {name:<36} {a:>6.0f} -> {b:>6.0f} MiB  x{b / a:.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Time and peak memory of the geo steps (geo-check, geo-chips, predict, "
        "geo-stitch, geo-vectorize) on a large synthetic scene."
    )
    ap.add_argument(
        "--size", type=int, nargs="+", default=[5000, 20000],
        help="scene sides in px, run in turn (default 5000 20000: the memory comparison)",
    )  # fmt: skip
    ap.add_argument("--work", type=Path, default=None, help="work dir (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--chips", type=int, default=16, help="chips cut and predicted (default 16)")
    ap.add_argument("--chip", type=int, default=512, help="chip side, px (default 512)")
    ap.add_argument("--overlap", type=int, default=32, help="chip overlap, px (default 32)")
    ap.add_argument("--filters-base", type=int, default=8, help="the tiny UNet's filters")
    ap.add_argument("--tile", type=int, default=256, help="prediction tile, px (default 256)")
    ap.add_argument(
        "--cachemax", type=int, default=256,
        help="also run geo-stitch and geo-vectorize with GDAL_CACHEMAX set to this many MB "
        "(0: don't); the plain runs keep GDAL's default (5 %% of the RAM)",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "geo_scale.json")
    args = ap.parse_args(argv)

    from dstl_hpc.atomic import write_json

    base = args.work or Path(tempfile.mkdtemp(prefix="geo-scale-"))
    records = []
    t0 = time.perf_counter()
    try:
        for size in args.size:
            records.append(run_size(size, base / f"size{size}", args))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/geo_scale.py", *sys.argv[1:]]),
            "chip": args.chip,
            "overlap": args.overlap,
            "total_s": round(time.perf_counter() - t0, 1),
            "machine": machine(),
            "results": records,
        },
    )
    print(table(records))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
