import json

import numpy as np
import pytest

from dstl_hpc.cli import main
from dstl_hpc.prepare.indices import INDICES, index_planes
from dstl_hpc.prepare.stacks import read_stack, stack_info, write_stack


def test_stats_are_exact_over_all_pixels_of_all_stacks(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2048, (20, 30, 40), dtype=np.uint16)
    b = rng.integers(0, 16000, (20, 17, 25), dtype=np.uint16)  # another size
    write_stack(tmp_path / "a.h5", a, "a", {"P": {"dx": 0.1}})
    write_stack(tmp_path / "b.h5", b, "b", {})
    out = tmp_path / "stats.json"
    assert main(["stats", str(out), str(tmp_path / "a.h5"), str(tmp_path / "b.h5")]) == 0
    stats = json.loads(out.read_text())
    both = np.concatenate([a.reshape(20, -1), b.reshape(20, -1)], axis=1).astype(np.float64)
    assert stats["mean"][:20] == pytest.approx(both.mean(axis=1).tolist(), abs=1e-3)
    assert stats["std"][:20] == pytest.approx(both.std(axis=1).tolist(), abs=1e-3)
    assert stats["images"] == ["a", "b"] and stats["channels"][3] == "P"
    # then the index channels, computed the way training computes them
    assert stats["channels"][20:] == list(INDICES)
    planes = np.concatenate(
        [index_planes(x, INDICES).reshape(len(INDICES), -1) for x in (a, b)], axis=1
    ).astype(np.float64)
    assert stats["mean"][20:] == pytest.approx(planes.mean(axis=1).tolist(), abs=1e-3)
    assert stats["std"][20:] == pytest.approx(planes.std(axis=1).tolist(), abs=1e-3)
    assert np.array_equal(read_stack(tmp_path / "a.h5", 12), a[:12])
    assert stack_info(tmp_path / "a.h5")["alignment"] == {"P": {"dx": 0.1}}


def test_stats_on_a_non_hdf5_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    assert main(["stats", str(tmp_path / "s.json"), str(bad)]) == 2
    assert "bad.h5: not a readable HDF5 file" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
