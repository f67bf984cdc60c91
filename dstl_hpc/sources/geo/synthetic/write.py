"""Writing the synthetic geo dataset: its folder (replaced whole, once complete), the
rasters of each scene, the scene table and the manifest."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import remove_stale
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.synthetic.dataset import (
    AREA_LAYER,
    CLASS_FIELD,
    COARSE_BANDS,
    COARSE_RES,
    CRS,
    FINE_BANDS,
    FINE_RES,
    GENERATOR,
    KINDS,
    LABEL_CRS,
    LABELS_LAYER,
    MIN_SIZE,
    UNMAPPED,
    VALUES,
    scene_files,
    scene_ids,
    scene_splits,
)
from dstl_hpc.sources.geo.synthetic.formats import coarse_driver, raster_profile
from dstl_hpc.sources.geo.synthetic.layout import SceneLayout
from dstl_hpc.sources.geo.synthetic.paint import paint_bands, to_uint16
from dstl_hpc.sources.geo.synthetic.vectors import write_vectors


def write_geo_dataset(
    out_dir,
    scenes: int = 4,
    size: int = 512,
    seed: int = 0,
    classes=KINDS,
) -> dict:
    """Write the synthetic geo dataset into ``out_dir`` (replaced whole, once complete);
    return its manifest (also ``out_dir/manifest.json``)."""
    out = Path(out_dir)
    classes = tuple(classes)
    if scenes < 3:
        raise DstlError(
            f"{out}: a synthetic geo dataset needs at least 3 scenes "
            f"(train, validation, test), got {scenes}"
        )
    if size < MIN_SIZE or size % 2:
        raise DstlError(f"{out}: the scene size must be an even number >= {MIN_SIZE}, got {size}")
    unknown = [c for c in classes if c not in KINDS]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise DstlError(
            f"{out}: classes {list(classes)!r} must be distinct names among {', '.join(KINDS)}"
        )
    _check_replaceable(out)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders: give the usual mode
    try:
        manifest = _write_all(tmp, scenes, size, seed, classes)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise DstlError(f"{out}: exists and is not a folder; not replacing it")
    if not any(out.iterdir()):
        return
    try:
        ours = json.loads((out / "manifest.json").read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise DstlError(
            f"{out}: a non-empty folder that this generator did not write; not replacing it"
        )


def _replace(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` onto ``out`` (an earlier dataset moves aside)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_all(root: Path, n_scenes: int, size: int, seed: int, classes) -> dict:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.features import rasterize
    from rasterio.transform import array_bounds, from_origin
    from rasterio.warp import reproject
    from shapely.geometry import box

    driver = coarse_driver()
    ids, splits = scene_ids(n_scenes), scene_splits(n_scenes)
    (root / "rasters").mkdir()
    ext_m = size * FINE_RES
    spacing = ext_m + 2000.0
    coarse = size // 2
    label_rows, area_rows, scene_entries = [], [], []
    invalid = unlabelled = 0

    for i, (sid, split) in enumerate(zip(ids, splits, strict=True)):
        west = 496000.0 + spacing * (i % 3)
        north = 5603000.0 - spacing * (i // 3) - 700.0 * (i % 2)
        transform = from_origin(west, north, FINE_RES, FINE_RES)
        coarse_transform = from_origin(west, north, COARSE_RES, COARSE_RES)
        bounds = array_bounds(size, size, transform)
        layout = SceneLayout(seed, i, bounds, classes)

        # The first training scene has an unlabelled quarter (its north-east).
        scene_box = box(*bounds)
        hole = None
        if i == 0:
            left, bottom, right, top = bounds
            hole = box((left + right) / 2, (bottom + top) / 2, right, top)
        if i == 0 and "building" in classes:
            invalid += layout.make_bow_tie(hole)
        labelled = scene_box if hole is None else scene_box.difference(hole)
        area_rows.append((sid, labelled))
        for _kind, value, label, paint in layout.features:
            if hole is not None and paint.intersects(hole):
                unlabelled += 1
                label = paint.intersection(labelled)
                if label.is_empty or label.area == 0:
                    continue
            label_rows.append((sid, value, label))

        img = paint_bands(layout, seed, i, size, transform)
        invalid_px = rasterize(
            [(layout.border, 1)], out_shape=(size, size), transform=transform, dtype="uint8"
        ).astype(bool)
        # the SWIR bands and the nodata border averaged onto the 4 m grid in one warp
        coarse_planes = np.zeros((3, coarse, coarse), np.float32)
        reproject(
            np.concatenate([img[4:6].astype(np.float32), invalid_px[None].astype(np.float32)]),
            coarse_planes,
            src_transform=transform,
            src_crs=CRS,
            dst_transform=coarse_transform,
            dst_crs=CRS,
            resampling=Resampling.average,
        )
        swir, coarse_bad = coarse_planes[:2], coarse_planes[2]

        files = scene_files(sid, driver)
        fine_path, coarse_path = root / files[0], root / files[1]
        with rasterio.open(
            fine_path, "w", **raster_profile("GTiff", 4, size, size, transform)
        ) as dst:
            dst.write(to_uint16(img[:4], invalid_px))
            dst.descriptions = FINE_BANDS
        with rasterio.open(
            coarse_path, "w", **raster_profile(driver, 2, coarse, coarse, coarse_transform)
        ) as dst:
            dst.write(to_uint16(swir, coarse_bad > 0))
            for b, name in enumerate(COARSE_BANDS, 1):
                dst.set_band_description(b, name)
        scene_entries.append(
            {
                "id": sid,
                "split": split,
                "files": files,
                "crs": CRS,
                "transform": list(transform)[:6],
                "size": [size, size],
                "bounds": list(bounds),
                "coarse_transform": list(coarse_transform)[:6],
                "coarse_size": [coarse, coarse],
                "nodata_fraction": round(float(invalid_px.mean()), 4),
            }
        )

    counts = write_vectors(root, label_rows, area_rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["scene", "split", "files"])
    for s in scene_entries:
        writer.writerow([s["id"], s["split"], ";".join(s["files"])])
    (root / "scenes.csv").write_text(buf.getvalue())

    manifest = {
        "generator": GENERATOR,
        "seed": seed,
        "scene_table": "scenes.csv",
        "scenes": scene_entries,
        "classes": list(classes),
        "class_field": CLASS_FIELD,
        "value_map": {c: list(VALUES[c]) for c in classes},
        "labels": {"path": "labels.gpkg", "layer": LABELS_LAYER, "crs": LABEL_CRS},
        "labelled_area": {"path": "labelled_area.gpkg", "layer": AREA_LAYER, "crs": LABEL_CRS},
        "value_counts": counts,
        "unmapped": {"value": UNMAPPED, "count": counts.get(UNMAPPED, 0)},
        "invalid_polygons": invalid,
        "unlabelled_features": unlabelled,
        "coarse_format": driver,
        "bands": {"fine": list(FINE_BANDS), "coarse": list(COARSE_BANDS)},
        "resolution_m": {"fine": FINE_RES, "coarse": COARSE_RES},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
