"""Index channels against hand-computed values."""

import numpy as np
import pytest

from dstl_hpc.prepare.indices import (
    INDICES,
    RANGES,
    dequantize,
    index_planes,
    source_channels,
    with_indices,
)
from dstl_hpc.sources.dstl import CHANNELS


def _pixel(**bands):
    """A 20-channel 1 x 2 stack: the given bands in both pixels, others 0."""
    stack = np.zeros((20, 1, 2), np.uint16)
    for name, value in bands.items():
        stack[CHANNELS.index(name)] = value
    return stack


HAND = {
    # M7 600, M5 200: (600 - 200) / (600 + 200)
    "ndvi": 0.5,
    # M3 300, M8 100: (300 - 100) / (300 + 100)
    "ndwi": 0.5,
    # ((600 - 400) / (600 + 400)) / 0.5
    "ccci": 0.4,
    # 2.5 (600 - 200) / (600 + 6 * 200 - 7.5 * 100 + 2047), bands / 2047
    "evi": 2.5 * 400 / (600 + 1200 - 750 + 2047),
    # 1.5 (600 - 200) / (600 + 200 + 0.5 * 2047)
    "savi": 1.5 * 400 / (800 + 1023.5),
}


@pytest.mark.parametrize("name", INDICES)
def test_index_matches_the_hand_computed_value(name):
    stack = _pixel(M2=100, M3=300, M5=200, M6=400, M7=600, M8=100)
    q = index_planes(stack, [name])
    lo, hi = RANGES[name]
    step = (hi - lo) / 65535
    assert q.dtype == np.uint16 and q.shape == (1, 1, 2)
    assert dequantize(name, q)[0, 0, 0] == pytest.approx(HAND[name], abs=step)


def test_zero_bands_give_zero_and_values_are_clipped():
    zero = index_planes(_pixel(), INDICES)
    for k, name in enumerate(INDICES):
        assert dequantize(name, zero[k]) == pytest.approx(0.0, abs=1e-4)
    # ndvi = 1 exactly (M5 = 0); ccci = ((M7 - M6)/(M7 + M6)) / 0.01 = 100, clipped to 2
    q = index_planes(_pixel(M7=1000, M5=0), ["ndvi"])
    assert dequantize("ndvi", q)[0, 0, 0] == pytest.approx(1.0)
    q = index_planes(_pixel(M7=1010, M5=990, M6=10), ["ccci"])
    assert dequantize("ccci", q)[0, 0, 0] == pytest.approx(RANGES["ccci"][1])


def test_input_planes_channel_first_or_last():
    rng = np.random.default_rng(1)
    stack = rng.integers(1, 2047, (20, 5, 6), dtype=np.uint16)
    first = with_indices(stack, 4, ["ndwi", "ndvi"])
    assert first.shape == (6, 5, 6) and np.array_equal(first[:4], stack[:4])
    last = with_indices(stack.transpose(1, 2, 0), 4, ["ndwi", "ndvi"], axis=-1)
    assert np.array_equal(last, first.transpose(1, 2, 0))
    assert np.array_equal(with_indices(stack, 3, []), stack[:3])
    assert source_channels(3, ["ndwi"]) == 12 and source_channels(3, []) == 3
    with pytest.raises(ValueError, match="first 12 channels"):
        index_planes(stack[:4], ["ndwi"])
