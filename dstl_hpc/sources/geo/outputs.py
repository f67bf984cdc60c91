"""The geo source's outputs: a scene's chip predictions stitched into one probability COG,
its polygons per class in a GeoPackage, and pixel and polygon scores of labelled scenes.

Every step reads the scene's grid from ``check.json`` (``dstl_hpc.sources.geo.prepare``)
and works window by window, so memory is bounded by a chip or a block, never a scene.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dstl_hpc.errors import DstlError

log = logging.getLogger(__name__)

BLOCK = 2048  # px: the window scores and polygons read from a probability COG


def _grid(check: dict, scene_id: str):
    from dstl_hpc.sources.geo.rasters import SceneGrid

    if scene_id not in check["scenes"]:
        raise DstlError(f"scene {scene_id}: not in the checked inputs")
    return SceneGrid.from_dict(check["scenes"][scene_id]["grid"])


def stitch_scene(check: dict, scene_id: str, predictions, stacks, out_path) -> Path:
    """``out_path``: the scene's probability COG from its chips' prediction files (one per
    chip and group; the groups' classes together give every class) and their stacks
    (whose ``valid`` plane marks nodata)."""
    from dstl_hpc.prepare.stacks import read_prediction_u8, read_valid
    from dstl_hpc.sources.geo.chips import chip_id, chip_windows
    from dstl_hpc.sources.geo.stitch import stitch_cog

    spec = check["spec"]
    grid = _grid(check, scene_id)
    n = len(check["classes"])
    windows = chip_windows(grid.height, grid.width, spec["chip_size"], spec["chip_overlap"])
    by_chip: dict[str, list[Path]] = {}
    for p in map(Path, predictions):
        by_chip.setdefault(p.stem, []).append(p)
    stack_of = {Path(s).stem: Path(s) for s in stacks}
    chips = [w for w in windows if chip_id(scene_id, w[0], w[1]) in by_chip]
    if not chips:
        raise DstlError(f"scene {scene_id}: no chip prediction given")

    def read_chip(i: int):
        cid = chip_id(scene_id, chips[i][0], chips[i][1])
        prob = np.zeros((n, chips[i][4], chips[i][5]), np.uint8)
        seen = set()
        for path in by_chip[cid]:
            planes, classes = read_prediction_u8(path)
            for plane, k in zip(planes, classes, strict=True):
                if not 1 <= k <= n:
                    raise DstlError(f"{path}: class {k} is not one of the {n} classes")
                prob[k - 1] = plane
                seen.add(k)
        if len(seen) < n:
            missing = sorted(set(range(1, n + 1)) - seen)
            raise DstlError(f"{by_chip[cid][0]}: chip {cid} has no prediction of classes {missing}")
        if cid not in stack_of:
            raise DstlError(f"chip {cid}: its stack (for the valid plane) is not given")
        return prob, read_valid(stack_of[cid])

    return stitch_cog(out_path, grid, check["classes"], chips, read_chip)


def _blocks(height: int, width: int, block: int = BLOCK):
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield r, c, min(block, height - r), min(block, width - c)


class _Truth:
    """A labelled scene's truth: class geometries and labelled area in its CRS."""

    def __init__(self, check: dict):
        from dstl_hpc.sources.geo.labels import read_area, read_labels

        spec = check["spec"]
        self.labels = read_labels(
            spec["labels"], spec["class_field"], spec["classes"], check["classes"]
        )
        self.area = read_area(spec.get("labelled_area") or [])

    def scene(self, grid):
        bounds = tuple(grid.bounds)
        return self.labels.for_scene(grid.crs, bounds), self.area.for_scene(grid.crs, bounds)


def sweep_scenes(check: dict, cogs: dict, thresholds, truth=None) -> np.ndarray:
    """int64 (N, T, 3) pixel counts (tp, fp, fn) at each threshold over the known pixels
    (labelled area and valid) of the scenes' probability COGs, block by block."""
    from dstl_hpc.sources.geo.labels import known_window, rasterize_window
    from dstl_hpc.sources.geo.scores import sweep_counts
    from dstl_hpc.sources.geo.stitch import read_cog_window

    truth = truth or _Truth(check)  # the labels, read once per step
    total = np.zeros((len(check["classes"]), len(thresholds), 3), np.int64)
    for scene_id, cog in cogs.items():
        grid = _grid(check, scene_id)
        geoms, area = truth.scene(grid)
        for window in _blocks(grid.height, grid.width):
            prob, valid = read_cog_window(cog, window)
            transform = grid.window_transform(window)
            planes = rasterize_window(geoms, transform, valid.shape)
            known = known_window(area, valid, transform)
            total += sweep_counts(prob, planes, known, thresholds)
    return total


def vectorize_scene(
    check: dict, scene_id: str, cog, thresholds: dict, class_settings: dict, out_path,
    driver: str = "GPKG", out_crs=None,
) -> int:  # fmt: skip
    """The scene's polygons per class (threshold, min area and simplification per class)
    with class id, name, scene, area in m^2 and mean probability; returns their count."""
    import rasterio

    from dstl_hpc.sources.geo.stitch import GDAL_CACHE_MB, read_cog_window
    from dstl_hpc.sources.geo.vectorize import records_for, trace_probability, write_polygons

    grid = _grid(check, scene_id)
    records = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):  # bounded: see stitch.GDAL_CACHE_MB
        for k, name in enumerate(check["classes"]):
            s = class_settings[name]
            traced = trace_probability(
                lambda w: read_cog_window(cog, w),
                grid.shape,
                grid.affine,
                k,
                float(thresholds[name]),
                min_area_px=float(s["min_area"]),
                simplify_px=float(s["epsilon"]),
            )
            records += records_for(traced, k + 1, name, scene_id)
    return write_polygons(out_path, records, grid.crs, driver=driver, out_crs=out_crs)


def score_scenes(check: dict, cogs: dict, polygons: dict, thresholds: dict) -> dict:
    """Per class: pixel IoU, F1, precision and recall at the chosen thresholds, and the
    polygon Jaccard (summed intersections over summed unions, within the labelled area)
    of the scenes' polygons; with their means over the classes that have a score."""
    import geopandas as gpd

    from dstl_hpc.sources.geo.labels import to_pyproj
    from dstl_hpc.sources.geo.scores import (
        jaccard_scores,
        mean_score,
        pixel_scores,
        polygon_jaccard,
    )

    names = list(check["classes"])
    ts = sorted({float(thresholds[n]) for n in names})
    truth = _Truth(check)
    counts = sweep_scenes(check, cogs, ts, truth)
    at = np.stack([counts[k, ts.index(float(thresholds[n]))] for k, n in enumerate(names)])
    pixel = pixel_scores(at, names)
    sums = np.zeros((len(names), 2))
    for scene_id, path in polygons.items():
        grid = _grid(check, scene_id)
        geoms, area = truth.scene(grid)
        pred = gpd.read_file(path).to_crs(to_pyproj(grid.crs))
        per_class = [list(pred.geometry[pred["class_id"] == k + 1]) for k in range(len(names))]
        sums += polygon_jaccard(per_class, geoms, area)
    jac = jaccard_scores(sums, names)
    classes = {
        n: {**{k: pixel[n][k] for k in ("iou", "f1", "precision", "recall")},
            "polygon_jaccard": jac[n], "threshold": float(thresholds[n])}
        for n in names
    }  # fmt: skip
    means = {key: mean_score(classes, key) for key in ("iou", "f1", "polygon_jaccard")}
    return {"scenes": sorted(cogs), "class_order": names, "classes": classes, "mean": means}
