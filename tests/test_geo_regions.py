"""A split by region inside one large scene: held-out chips by polygons or blocks, and
training chips kept apart from them by a buffer."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from dstl_hpc.config.plan import Plan
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.chips import chip_windows
from dstl_hpc.sources.geo.regions import split_chips
from dstl_hpc.sources.geo.scenes import Scene, SceneFile

ROOT = Path(__file__).resolve().parent.parent


def _overlap(a, b) -> bool:
    return a[2] < b[2] + b[4] and b[2] < a[2] + a[4] and a[3] < b[3] + b[5] and b[3] < a[3] + a[5]


def test_blocks_hold_out_chips_and_no_training_chip_touches_them():
    chips = chip_windows(1024, 1024, 128, 32)  # 10 x 10 chips
    scene = Scene("big", "train", ())
    splits = split_chips({"block": 2, "every": 4, "test": True}, scene, chips)
    held = [c for c, s in zip(chips, splits, strict=True) if s in ("validation", "test")]
    train = [c for c, s in zip(chips, splits, strict=True) if s == "train"]
    assert {s for s in splits} == {"train", "validation", "test", None}
    # block (i, j) of 2 x 2 chips: validation when (i + j) % 4 == 0
    for c, s in zip(chips, splits, strict=True):
        k = (c[0] // 2 + c[1] // 2) % 4
        if k == 0:
            assert s == "validation"
        elif k == 1:
            assert s == "test"
    # chips overlap their neighbours: a training chip never shares a pixel with a held-out one
    assert not any(_overlap(t, h) for t in train for h in held)


def test_buffer_keeps_training_chips_further_away():
    chips = chip_windows(1024, 1024, 128, 0)  # no overlap: neighbours touch only at edges
    scene = Scene("big", "train", ())
    near = split_chips({"block": 2, "every": 4, "buffer": 0}, scene, chips)
    far = split_chips({"block": 2, "every": 4, "buffer": 16}, scene, chips)
    assert near.count(None) == 0  # buffer 0 and no overlap: nothing to drop
    assert far.count(None) > 0
    held = [c for c, s in zip(chips, far, strict=True) if s == "validation"]
    for c, s in zip(chips, far, strict=True):
        if s == "train":
            grown = (c[0], c[1], c[2] - 16, c[3] - 16, c[4] + 32, c[5] + 32)
            assert not any(_overlap(grown, h) for h in held)


def test_polygon_regions(tmp_path):
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.transform import from_origin

    path = tmp_path / "big.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=512, height=512, count=1, dtype="uint8",
        crs="EPSG:32631", transform=from_origin(500000, 5600000, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(np.ones((1, 512, 512), np.uint8))
    # a validation polygon over the top-left 100 x 100 m, given in EPSG:4326
    region = gpd.GeoDataFrame(geometry=[shapely.box(500010, 5599900, 500090, 5599990)], crs=32631)
    region.to_crs(4326).to_file(tmp_path / "valid.gpkg")
    chips = chip_windows(512, 512, 128, 0)
    scene = Scene("big", "train", (SceneFile(path),))
    splits = split_chips({"validation": str(tmp_path / "valid.gpkg")}, scene, chips)
    assert splits[0] == "validation"
    assert splits.count("validation") == 1
    assert splits.count("train") == len(chips) - 1


def test_region_split_in_a_plan(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/geo.yaml").read_text())
    cfg["results"] = str(tmp_path / "res")
    cfg["data"]["geo_synthetic"] = {"scenes": 3, "size": 1280, "seed": 0}  # 6 x 6 chips
    cfg["data"]["region_split"] = {"block": 2, "every": 3, "buffer": 0}
    plan = Plan(cfg)
    assert plan.geo.chip_splits("scene1").count("train") > 0
    # scene1 and scene2 (train) now give validation chips too, beside scene3's
    assert any(i.startswith("scene1__") for i in plan.validation_ids)
    assert not set(plan.validation_ids) - set(plan.train_ids)
    assert not set(plan.test_ids) & set(plan.train_ids)


def test_both_polygons_and_blocks_are_refused():
    with pytest.raises(DstlError, match="polygons or block, not both"):
        split_chips({"block": 2, "validation": "v.gpkg"}, Scene("s", "train", ()), [])
