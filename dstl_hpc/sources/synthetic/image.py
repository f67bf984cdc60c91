"""One synthetic image: which classes it holds, its scene, its labels and its bands."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dstl_hpc.sources.dstl import CLASS_TYPES
from dstl_hpc.sources.synthetic import built, land
from dstl_hpc.sources.synthetic.bands import BAND_FACTORS, band_shape, draw_offsets, render_bands
from dstl_hpc.sources.synthetic.labels import grid_frame, grid_wkt, scene_labels
from dstl_hpc.sources.synthetic.render import render_scene
from dstl_hpc.sources.synthetic.scene import Scene, Site, object_unit

log = logging.getLogger(__name__)

# The features in the order they are laid out (later ones keep off earlier ones,
# follow their roads and houses): (ClassType, painter).
FEATURES = (
    (6, land.add_fields),
    (7, land.add_waterway),
    (8, land.add_ponds),
    (3, built.add_roads),
    (4, land.add_tracks),
    (1, built.add_buildings),
    (2, built.add_structures),
    (5, land.add_trees),
)


def presence_plan(n_images: int, n_train: int, seed: int) -> list[set[int]]:
    """Classes drawn in each image (a set of ClassTypes per image, in id order).

    Every class appears both among the last two training ids (the workflow's default
    validation images for synthetic data) and among the other training ids, so that
    it is trained on and validated on; with fewer than 3 training images, in each
    half of them. Vehicles come with roads."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    plans: list[set[int]] = []
    for _ in range(n_images):
        p: set[int] = set()
        village = rng.random() < 0.45
        if rng.random() < 0.95:
            p.add(5)
        if rng.random() < 0.85:
            p.add(4)
        if rng.random() < 0.55:
            p.add(6)
        if village:
            p |= {1, 3}
            for cls, prob in ((2, 0.9), (10, 0.75), (9, 0.45)):
                if rng.random() < prob:
                    p.add(cls)
        else:
            for cls, prob in ((2, 0.25), (3, 0.15)):
                if rng.random() < prob:
                    p.add(cls)
        if rng.random() < 0.25:
            p.add(7)
        if rng.random() < 0.4:
            p.add(8)
        plans.append(p)
    first = n_train - 2 if n_train >= 3 else (n_train + 1) // 2
    for group in (range(0, first), range(first, n_train)):
        if len(group) == 0:
            continue
        for cls in CLASS_TYPES:
            if any(cls in plans[i] for i in group):
                continue
            i = group[int(rng.integers(len(group)))]
            plans[i].add(cls)
            if cls in (9, 10):
                plans[i].add(3)
    return plans


@dataclass
class SynthImage:
    """One rendered image: its bands (uint16), grid, WKT per class and truth."""

    image_id: str
    height: int
    width: int
    xmax: float
    ymin: float
    bands: dict[str, np.ndarray]
    wkt: dict[int, str]
    offsets: dict[str, dict[str, float]]
    fractions: dict[int, float]


def build_scene(
    rng: np.random.Generator, height: int, width: int, present: set[int], unit: float | None = None
) -> Scene:
    """Polygons (pixel coordinates) of one image holding the classes in ``present``."""
    site = Site.start(rng, height, width, present, unit)
    for cls, add in FEATURES:
        if cls in present:
            add(site)
    built.add_vehicles(site)
    return site.scene


def _grid(rng) -> tuple[float, float]:
    """An image's (Xmax, Ymin) near the real data's."""
    xmax = round(0.00918 + rng.uniform(-0.00012, 0.00006), 6)
    ymin = -round(0.00904 + rng.uniform(-0.00010, 0.00006), 6)
    return xmax, ymin


def make_image(seed: int, index: int, image_id: str, size: tuple[int, int], present: set[int]):
    """Render one image: its bands, its WKT (grid coordinates) and its truth."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    height, width = int(size[0]), int(size[1])
    if index > 0:  # slightly different sizes, as in the real data
        height += int(rng.integers(0, 3))
        width += int(rng.integers(0, 4))
    xmax, ymin = _grid(rng)
    shapes = {b: band_shape(height, width, b) for b in BAND_FACTORS}
    offsets = draw_offsets(rng, height, width, shapes)
    frame = grid_frame(width, height, xmax, ymin)
    scene, labels = _scene_with(rng, image_id, height, width, present, frame)
    return _render(rng, image_id, scene, labels, xmax, ymin, offsets, shapes)


def make_mosaic(seed: int, tiles: list[tuple[int, str, int, int]], size, present: set[int]):
    """Render the tiles of one scene laid out as one landscape, so that a tile's objects
    continue into its neighbours (as DSTL's {scene}_{row}_{col} tiles do). ``tiles``:
    (index, image id, row, col); every tile is ``size`` (H, W). Returns SynthImages in
    the order of ``tiles``."""
    height, width = int(size[0]), int(size[1])
    rows = 1 + max(r for _, _, r, _ in tiles)
    cols = 1 + max(c for _, _, _, c in tiles)
    first = min(i for i, _, _, _ in tiles)
    scene_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE4E, first]))
    unit = object_unit(height, width)  # objects the size they have in a single image
    whole = build_scene(scene_rng, rows * height, cols * width, present, unit)
    images = []
    for index, image_id, row, col in tiles:
        rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
        xmax, ymin = _grid(rng)
        shapes = {b: band_shape(height, width, b) for b in BAND_FACTORS}
        offsets = draw_offsets(rng, height, width, shapes)
        scene = whole.window(row * height, col * width, height, width)
        labels = scene_labels(scene, grid_frame(width, height, xmax, ymin))
        images.append(_render(rng, image_id, scene, labels, xmax, ymin, offsets, shapes))
    return images


def _render(rng, image_id: str, scene: Scene, labels, xmax, ymin, offsets, shapes) -> SynthImage:
    """An image's WKT, rendered classes and bands from its scene and labels."""
    height, width = scene.height, scene.width
    # Labels go through the grid WKT and back, so that imagery matches the CSV exactly.
    wkt, round_trip = grid_wkt(labels, image_id, width, height, xmax, ymin)
    material, bright, fractions = render_scene(rng, scene, round_trip)
    bands = render_bands(rng, material, bright, offsets, shapes)
    return SynthImage(
        image_id=image_id,
        height=height,
        width=width,
        xmax=xmax,
        ymin=ymin,
        bands=bands,
        wkt=wkt,
        offsets={b: {"dx": round(dx, 9), "dy": round(dy, 9)} for b, (dx, dy) in offsets.items()},
        fractions=fractions,
    )


def _scene_with(rng, image_id: str, height: int, width: int, present: set[int], frame):
    """(scene, labels within ``frame``): drawn again (up to 6 times) until every class in
    ``present`` shows."""
    for _attempt in range(6):
        scene = build_scene(rng, height, width, present)
        labels = scene_labels(scene, frame)
        missing = sorted(c for c in present if labels[c].is_empty)
        if not missing:
            break
        log.debug("%s: classes %s came out empty, drawing the scene again", image_id, missing)
    else:
        log.warning("%s: classes %s are missing from the scene", image_id, missing)
    return scene, labels
