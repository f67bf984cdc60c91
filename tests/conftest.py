import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    """A small synthetic DSTL dataset (3 images of 96 px, 2 for training), once a module."""
    from dstl_hpc.sources.synthetic import generate

    root = tmp_path_factory.mktemp("synth") / "data"
    generate(root, n_images=3, n_train=2, size=(96, 96), seed=0)
    return root


@pytest.fixture
def data(synth_root, tmp_path):
    """A fresh copy of ``synth_root`` (train ids 6010_0_0, 6010_0_1) to damage; modules
    with a ``data`` fixture of their own use theirs."""
    from dstl_hpc.sources.dstl import Layout

    return Layout(shutil.copytree(synth_root, tmp_path / "data"))
