"""A split by region inside scenes: for a team with one large scene, its chips are held
out for validation and test by polygons or by blocks of chips, and training chips keep
``buffer`` px away from them.

``data.region_split`` (applies to the chips of ``train`` scenes):

- ``validation`` / ``test``: polygon files (any OGR format and CRS): a chip whose window
  intersects them is a validation (test) chip; or
- ``block``: N: chips are grouped in N x N blocks; block (i, j) is a validation block when
  ``(i + j) % every == 0``, a test block when ``(i + j) % every == 1`` (``test: true``);
- ``buffer`` (px, default 0): a training chip whose window, grown by ``buffer`` px,
  touches a held-out chip's window is dropped. Chips share ``chip_overlap`` px with
  their neighbours, so even with buffer 0 no training chip holds a held-out pixel;
  ``buffer`` >= ``patch_border`` also keeps held-out pixels out of a patch's context.
"""

from __future__ import annotations

from dstl_hpc.errors import DstlError

HELD_OUT = ("validation", "test")


def _grown(window, by: int) -> tuple[int, int, int, int]:
    r0, c0, h, w = window
    return r0 - by, c0 - by, r0 + h + by, c0 + w + by


def _touch(a, b) -> bool:
    """Whether two (r0, c0, r1, c1) boxes share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _polygon_chips(files, scene, chips, resolution) -> set[int]:
    """Indexes of ``chips`` whose window intersects the polygons of ``files``."""
    import shapely

    from dstl_hpc.sources.geo.labels import read_area
    from dstl_hpc.sources.geo.rasters import scene_grid

    grid = scene_grid(list(scene.files), resolution)
    area = read_area(files).for_scene(grid.crs, tuple(grid.bounds))
    if area is None or area.is_empty:
        return set()
    out = set()
    for n, (_, _, r0, c0, h, w) in enumerate(chips):
        box = shapely.box(*_window_bounds(grid, (r0, c0, h, w)))
        if box.intersects(area):
            out.add(n)
    return out


def _window_bounds(grid, window):
    from rasterio.windows import Window, bounds

    r0, c0, h, w = window
    return bounds(Window(c0, r0, w, h), grid.affine)


def _block_chips(chips, block: int, every: int, test: bool) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {"validation": set(), "test": set()}
    for n, (r, c, *_) in enumerate(chips):
        k = (r // block + c // block) % every
        if k == 0:
            out["validation"].add(n)
        elif k == 1 and test:
            out["test"].add(n)
    return out


def split_chips(region: dict, scene, chips, resolution=None) -> list[str | None]:
    """The split of each chip of a ``train`` scene: train, validation, test, or None
    (dropped: inside the buffer around held-out chips)."""
    if region.get("block"):
        if any(isinstance(region.get(s), str | list) for s in HELD_OUT):
            raise DstlError("config data.region_split: give polygons or block, not both")
        held = _block_chips(
            chips, int(region["block"]), int(region.get("every", 5)), bool(region.get("test"))
        )
    else:
        held = {
            split: _polygon_chips(region[split], scene, chips, resolution)
            if region.get(split)
            else set()
            for split in HELD_OUT
        }
    both = held["validation"] & held["test"]
    if both:
        raise DstlError(
            f"config data.region_split: {len(both)} chips of scene {scene.id} are in both the "
            "validation and the test regions"
        )
    buffer = int(region.get("buffer", 0))
    out_boxes = [_grown(chips[n][2:], 0) for n in held["validation"] | held["test"]]
    splits: list[str | None] = []
    for n, chip in enumerate(chips):
        if n in held["validation"]:
            splits.append("validation")
        elif n in held["test"]:
            splits.append("test")
        elif any(_touch(_grown(chip[2:], buffer), b) for b in out_boxes):
            splits.append(None)
        else:
            splits.append("train")
    return splits
