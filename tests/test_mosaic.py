"""Scene mosaics: neighbours of DSTL ids, and a tile surrounded by its neighbours'
pixels equals the stitched scene around it."""

import numpy as np
import pytest

from dstl_hpc.predict.mosaic import neighbour_ids, tile_position, with_context
from dstl_hpc.predict.tiles import reflect_indices


def test_positions_and_neighbours():
    assert tile_position("6120_2_3") == ("6120", 2, 3)
    assert tile_position("my_scene_0_4") == ("my_scene", 0, 4)
    assert tile_position("image7") is None
    ids = [f"6120_{r}_{c}" for r in range(5) for c in range(5)] + ["6130_0_1", "x"]
    assert sorted(neighbour_ids("6120_0_0", ids)) == ["6120_0_1", "6120_1_0", "6120_1_1"]
    assert len(neighbour_ids("6120_2_2", ids)) == 8
    assert neighbour_ids("6130_0_0", ids) == ["6130_0_1"]
    assert neighbour_ids("x", ids) == []


def _scene(rows=(40, 37, 41), cols=(50, 52, 47), channels=2, seed=0):
    """A random scene cut into tiles of unequal sizes: {id: tile}, and the scene."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(0, 2000, (channels, sum(rows), sum(cols))).astype(np.uint16)
    tiles = {}
    for r, h in enumerate(rows):
        for c, w in enumerate(cols):
            y0, x0 = sum(rows[:r]), sum(cols[:c])
            tiles[f"6010_{r}_{c}"] = scene[:, y0 : y0 + h, x0 : x0 + w]
    return tiles, scene


def _reader(tiles):
    def read(nid, rows, cols):
        tile = tiles.get(nid)
        return None if tile is None else tile[:, rows, cols]

    return read


@pytest.mark.parametrize("margin", [5, 20])
def test_centre_tile_in_context_is_the_scene_around_it(margin):
    tiles, scene = _scene()
    got = with_context(tiles["6010_1_1"], "6010_1_1", _reader(tiles), margin)
    y0, x0 = 40, 50  # the centre tile's place in the scene
    want = scene[:, y0 - margin : y0 + 37 + margin, x0 - margin : x0 + 52 + margin]
    np.testing.assert_array_equal(got, want)


def test_missing_neighbours_leave_the_edge_mirrored():
    tiles, scene = _scene()
    corner = tiles["6010_0_0"]
    m = 6
    got = with_context(corner, "6010_0_0", _reader(tiles), m)
    h, w = corner.shape[1:]
    mirrored = corner[:, reflect_indices(-m, h + 2 * m, h)][:, :, reflect_indices(-m, w + 2 * m, w)]
    # above and left: no tile, mirrored; right, below and below-right: the scene
    np.testing.assert_array_equal(got[:, :m], mirrored[:, :m])
    np.testing.assert_array_equal(got[:, :, :m], mirrored[:, :, :m])
    np.testing.assert_array_equal(got[:, m:, m:], scene[:, : h + m, : w + m])
    # no neighbour at all: exactly the mirrored image
    alone = with_context(corner, "6010_0_0", lambda *a: None, m)
    np.testing.assert_array_equal(alone, mirrored)


def test_a_smaller_neighbour_fills_what_it_has():
    tiles, _ = _scene()
    tiles["6010_1_2"] = tiles["6010_1_2"][:, :30, :4]  # shorter and narrower than the margin
    m = 8
    got = with_context(tiles["6010_1_1"], "6010_1_1", _reader(tiles), m)
    h, w = tiles["6010_1_1"].shape[1:]
    np.testing.assert_array_equal(got[:, m : m + 30, m + w : m + w + 4], tiles["6010_1_2"])
    # past what the neighbour has: the image's own mirrored edge
    assert got.shape == (2, h + 2 * m, w + 2 * m)
