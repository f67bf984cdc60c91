"""data.align: a scene file whose georeference is off is found (phase correlation + ECC)
and put back in place when chips are cut."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from dstl_hpc.prepare.stacks import read_stack
from dstl_hpc.sources.geo.grid import SceneGrid
from dstl_hpc.sources.geo.prepare import check_inputs, write_chips
from dstl_hpc.sources.geo.reader import SceneReader
from dstl_hpc.sources.geo.scenes import SceneFile
from dstl_hpc.sources.geo.synthetic import write_geo_dataset

CLASS_MAP = {"building": ["Building"], "road": ["Road"], "water": ["Water"], "trees": ["Trees"]}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The synthetic data, and a copy whose coarse (4 m) files are moved by (+6 m, -4 m)."""
    import rasterio
    from rasterio.transform import Affine

    root = tmp_path_factory.mktemp("align")
    good = root / "good"
    write_geo_dataset(good, scenes=3, size=256, seed=5)
    bad = root / "bad"
    shutil.copytree(good, bad)
    for path in sorted(p for p in (bad / "rasters").glob("*_coarse.*") if p.suffix != ".xml"):
        with rasterio.open(path, "r+") as dst:
            dst.transform = Affine.translation(6.0, -4.0) * dst.transform
    return good, bad


def spec(data, align):
    return {
        "scene_table": str(data / "scenes.csv"), "scenes": {}, "align": align,
        "labels": [str(data / "labels.gpkg")], "labelled_area": [], "class_field": "landuse",
        "classes": CLASS_MAP, "chip_size": 128, "chip_overlap": 0,
    }  # fmt: skip


def test_shift_found_and_corrected(pair, tmp_path):
    good, bad = pair
    check = check_inputs(spec(bad, True))
    dx, dy, cc = check["scenes"]["scene1"]["shifts"][1]
    # content moved +6 m east (3 px at 2 m) and -4 m north (+2 rows)
    assert dx == pytest.approx(3.0, abs=0.25)
    assert dy == pytest.approx(2.0, abs=0.25)
    chip = "scene1__000_001"
    write_chips(check, [chip], tmp_path / "fixed", tmp_path / "m1")
    write_chips(check_inputs(spec(bad, False)), [chip], tmp_path / "off", tmp_path / "m3")
    # the truth: the untouched files read on the same map window
    grid = SceneGrid.from_dict(check["scenes"]["scene1"]["grid"])
    files = [SceneFile(Path(f["path"].replace("/bad/", "/good/"))) for f in
             check["scenes"]["scene1"]["files"]]  # fmt: skip
    with SceneReader(files, grid) as reader:
        ref, _ = reader.read((0, 125, 128, 128))  # chip (0, 1): row 0, column 125
    ref = ref.astype(float)[4:, 8:-8, 8:-8]
    fixed = read_stack(tmp_path / f"fixed/{chip}.h5").astype(float)[4:, 8:-8, 8:-8]
    off = read_stack(tmp_path / f"off/{chip}.h5").astype(float)[4:, 8:-8, 8:-8]
    err_fixed = np.abs(fixed - ref).mean()
    err_off = np.abs(off - ref).mean()
    assert err_fixed < 0.15 * err_off


def test_without_align_no_shift_is_estimated(pair):
    good, _ = pair
    assert check_inputs(spec(good, False))["scenes"]["scene1"]["shifts"] is None
