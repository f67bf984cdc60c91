"""The geo source's first steps: check every input before any job trains, then cut chips.

``check_inputs(spec)`` opens every scene's rasters and every label file once and
refuses, in one line naming the file, what would fail later: a raster with no CRS or
geotransform, scenes whose bands differ, labels that overlap no scene, a missing
``class_field``, a class with no label in any training scene. It returns what the later
steps read (``check.json``): each scene's grid, the channel names, the band signature and
the label counts per scene and class.

``chip_arrays(...)`` reads one chip of a scene (its bands on the scene grid and the
``valid`` plane) and, for labelled scenes, rasterises its class planes and ``known``
plane (labels complete there and valid).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.scenes import SPLITS, Scene, SceneFile, read_scene_table

log = logging.getLogger(__name__)

LABELLED = ("train", "validation", "test")


def spec_scenes(spec: dict) -> list[Scene]:
    """The scenes of a spec: its own list, or the synthetic data's scene table."""
    if spec.get("scene_table"):
        return read_scene_table(spec["scene_table"], spec.get("bands"))
    scenes = []
    for scene_id, s in spec["scenes"].items():
        files = tuple(
            SceneFile(Path(f["path"]), tuple(f["bands"]) if f.get("bands") else None)
            for f in s["files"]
        )
        scenes.append(Scene(scene_id, s["split"], files))
    return scenes


def value_ranges(spec: dict):
    """``data.value_range``: one [lo, hi] for every band, or {band position: [lo, hi]}."""
    vr = spec.get("value_range")
    if vr is None:
        return None
    if isinstance(vr, dict):
        return {int(k): (float(v[0]), float(v[1])) for k, v in vr.items()}
    return (float(vr[0]), float(vr[1]))


def channel_names(bands: list[dict]) -> list[str]:
    """One name per channel: the band's description when every band has a distinct one,
    else ``b{position}``."""
    names = [str(b.get("description") or "") for b in bands]
    if all(names) and len(set(names)) == len(names):
        return names
    return [f"b{k + 1}" for k in range(len(bands))]


def check_inputs(spec: dict) -> dict:
    """What ``check.json`` holds (see the module docstring); the spec is kept in it, so the
    later steps read one file."""
    from dstl_hpc.sources.geo.labels import read_area, read_labels
    from dstl_hpc.sources.geo.rasters import (
        check_same_bands,
        estimate_file_shifts,
        inspect_files,
        scene_grid,
    )
    from dstl_hpc.sources.geo.reader import check_ranges

    scenes = spec_scenes(spec)
    grids, splits = {}, {}
    for s in scenes:
        grids[s.id] = scene_grid(list(s.files), spec.get("resolution"))
        splits[s.id] = s.split
    signature = check_same_bands({s.id: list(s.files) for s in scenes})
    bands = inspect_files(list(scenes[0].files))
    check_ranges(bands, value_ranges(spec))  # float bands need data.value_range
    # the class order (ids 1..N): a list, as JSON objects may come back with sorted keys
    class_names = list(spec.get("class_names") or spec["classes"])
    counts: dict[str, dict[str, int]] = {}
    labelled = [s for s in scenes if s.split in LABELLED]
    if labelled:
        if not spec.get("labels"):
            raise DstlError(
                f"config data.labels: scenes {', '.join(s.id for s in labelled[:3])} are "
                "train/validation/test scenes: give the label files"
            )
        if not spec.get("class_field"):
            raise DstlError("config data.class_field: name the label files' class attribute")
        labels = read_labels(spec["labels"], spec["class_field"], spec["classes"], class_names)
        area = read_area(spec.get("labelled_area") or [])
        for s in labelled:
            g = grids[s.id]
            geoms = labels.for_scene(g.crs, tuple(g.bounds))
            counts[s.id] = {
                name: _parts(geom) for name, geom in zip(class_names, geoms, strict=True)
            }
            if area.frames and area.for_scene(g.crs, tuple(g.bounds)) is not None:
                a = area.for_scene(g.crs, tuple(g.bounds))
                if a.is_empty:
                    log.warning("scene %s: the labelled area does not cover it", s.id)
        if not any(sum(c.values()) for c in counts.values()):
            files = ", ".join(str(p) for p in spec["labels"])
            raise DstlError(f"{files}: the labels overlap no scene (check their CRS and extent)")
        for s in labelled:
            if not sum(counts[s.id].values()):
                log.warning("scene %s (%s): no label overlaps it", s.id, s.split)
        train = [s.id for s in scenes if s.split == "train"]
        for name in class_names:
            if not any(counts[i][name] for i in train):
                raise DstlError(
                    f"{', '.join(str(p) for p in spec['labels'])}: class {name!r} has no label "
                    f"in any training scene ({', '.join(train)})"
                )
    return {
        "scenes": {
            s.id: {
                "split": splits[s.id],
                "grid": grids[s.id].to_dict(),
                # data.align: per file, [dx, dy, cc] of its content against the first file
                "shifts": estimate_file_shifts(list(s.files), grids[s.id])
                if spec.get("align") and len(s.files) > 1
                else None,
                "files": [
                    {"path": str(f.path), "bands": list(f.bands) if f.bands else None}
                    for f in s.files
                ],
            }
            for s in scenes
        },
        "channels": channel_names(bands),
        "signature": signature,
        "classes": class_names,
        "label_counts": counts,
        "spec": spec,
    }


def _parts(geom) -> int:
    if geom is None or geom.is_empty:
        return 0
    return len(getattr(geom, "geoms", [geom]))


def scene_files(check: dict, scene_id: str) -> list[SceneFile]:
    s = check["scenes"][scene_id]
    return [
        SceneFile(Path(f["path"]), tuple(f["bands"]) if f.get("bands") else None)
        for f in s["files"]
    ]


def scene_split(check: dict, scene_id: str) -> str:
    split = check["scenes"][scene_id]["split"]
    if split not in SPLITS:
        raise DstlError(f"scene {scene_id}: unknown split {split!r}")
    return split


def write_chips(check: dict, chips: list[str], stacks_out, masks_out, compression=None):
    """Cut ``chips`` (ids ``{scene}__{row}_{col}``) into ``stacks_out/{chip}.h5`` and, for
    labelled scenes, ``masks_out/{chip}.h5``; each scene's files are opened and its labels
    reprojected once. Memory: one chip, plus the scene's label geometries. ``compression``:
    the stacks' ``stack_compression`` (None: its default)."""
    from dstl_hpc.prepare.stacks import DEFAULT_COMPRESSION, write_mask, write_stack
    from dstl_hpc.sources.geo.chips import chip_windows, scene_of
    from dstl_hpc.sources.geo.labels import (
        known_window,
        rasterize_window,
        read_area,
        read_labels,
    )
    from dstl_hpc.sources.geo.rasters import SceneGrid, SceneReader

    spec = check["spec"]
    stacks_out, masks_out = Path(stacks_out), Path(masks_out)
    for d in (stacks_out, masks_out):  # both always exist (a part may have no labels)
        d.mkdir(parents=True, exist_ok=True)
    by_scene: dict[str, list[str]] = {}
    for c in chips:
        if scene_of(c) not in check["scenes"]:
            raise DstlError(f"{c}: no scene {scene_of(c)} in the checked inputs")
        by_scene.setdefault(scene_of(c), []).append(c)
    class_names = list(check["classes"])
    # what a model trained on these chips records, and predict checks a scene against
    bands = json.dumps({"channels": check["channels"], "signature": check["signature"]})
    labels = area = None
    written = 0
    for scene_id, ids in by_scene.items():
        grid = SceneGrid.from_dict(check["scenes"][scene_id]["grid"])
        windows = {
            chip_id_of(scene_id, w): w[2:]
            for w in chip_windows(grid.height, grid.width, spec["chip_size"], spec["chip_overlap"])
        }
        labelled = scene_split(check, scene_id) in ("train", "validation")
        if labelled and labels is None:
            labels = read_labels(spec["labels"], spec["class_field"], spec["classes"], class_names)
            area = read_area(spec.get("labelled_area") or [])
        geoms = _PartIndex(labels.for_scene(grid.crs, tuple(grid.bounds))) if labelled else None
        region = area.for_scene(grid.crs, tuple(grid.bounds)) if labelled else None
        shifts = [s[:2] if s else None for s in check["scenes"][scene_id].get("shifts") or []]
        files = scene_files(check, scene_id)
        with SceneReader(files, grid, value_ranges(spec), shifts or None) as reader:
            for c in ids:
                if c not in windows:
                    raise DstlError(f"{c}: not a chip of scene {scene_id} ({len(windows)} chips)")
                window = windows[c]
                image, valid = reader.read(window)
                transform = grid.window_transform(window)
                meta = {
                    "bands": bands,
                    "scene": scene_id,
                    "window": list(window),
                    "crs": grid.crs_wkt,
                    "transform": list(transform)[:6],
                }
                write_stack(
                    stacks_out / f"{c}.h5", image, c, channels=check["channels"],
                    valid=valid, compression=compression or DEFAULT_COMPRESSION, geo=meta,
                )  # fmt: skip
                if labelled:
                    planes = rasterize_window(geoms.near(grid, window), transform, valid.shape)
                    known = known_window(region, valid, transform)
                    write_mask(
                        masks_out / f"{c}.h5",
                        planes,
                        c,
                        classes=range(1, len(class_names) + 1),
                        known=known,
                    )
                written += 1
    return written


class _PartIndex:
    """A scene's class geometries split into their polygons, indexed (STRtree), so that a
    chip burns only the polygons near it (a scene's 11,000 buildings cost every chip
    0.17 s otherwise: benchmarks/geo_scale.py)."""

    def __init__(self, geoms):
        import shapely

        self.parts = [
            [] if g is None or g.is_empty else list(getattr(g, "geoms", [g])) for g in geoms
        ]
        self.trees = [shapely.STRtree(p) if p else None for p in self.parts]

    def near(self, grid, window) -> list:
        """Per class, the polygons whose bounding box meets the window (None: none)."""
        import shapely
        from rasterio.windows import Window, bounds

        r0, c0, h, w = window
        box = shapely.box(*bounds(Window(c0, r0, w, h), grid.affine))
        return [
            [parts[i] for i in tree.query(box)] or None if tree is not None else None
            for parts, tree in zip(self.parts, self.trees, strict=True)
        ]


def chip_id_of(scene_id: str, window: tuple) -> str:
    from dstl_hpc.sources.geo.chips import chip_id

    return chip_id(scene_id, window[0], window[1])
