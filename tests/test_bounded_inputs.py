"""Unbounded or blocking inputs are refused at once (issue 20): a ``--threads`` above
the cores this process may run on, and a FIFO or directory given as an input file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dstl_hpc.cli import main
from dstl_hpc.device import available_cores
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

TOO_MANY = available_cores() + 1


TRAIN = (
    "train --out m.pt --metrics m.csv --checkpoint c.pt --stats s.json --stacks-dir st "
    "--masks-dir ma --train-ids a --valid-ids b --group g --variant v --settings {}"
)


@pytest.mark.parametrize(
    "argv",
    [
        "align data 6120_2_2 out.h5".split(),
        "predict m.pt stack.h5 out.h5".split(),
        TRAIN.split(),
    ],
    ids=["align", "predict", "train"],
)
def test_threads_above_the_available_cores_are_refused(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main([*argv, "--threads", str(TOO_MANY)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1
    cores = available_cores()
    assert f"--threads {TOO_MANY}: more than the {cores} cores" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_threads_up_to_the_available_cores_are_accepted():
    from dstl_hpc.device import check_threads

    assert check_threads(None) is None
    assert check_threads(available_cores()) == available_cores()
    with pytest.raises(DstlError, match="--threads 100000"):
        check_threads(100000)


# ------------------------------------------------------------- non-regular files


def _fifo(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _cli(*args, cwd):
    """``dstl-hpc ARGS`` in a subprocess that cannot hang the test suite."""
    return subprocess.run(
        [sys.executable, "-m", "dstl_hpc.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
    )


def _assert_refused(proc, path, kind):
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1, err
    assert f"{path}: {kind}, expected a regular file" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("band", ["three_band", "P"])
def test_align_refuses_a_fifo_in_place_of_a_tiff(tmp_path, band):
    data = tmp_path / "data"
    if band == "three_band":
        path = _fifo(data / "three_band" / "6120_2_2.tif")
    else:  # a real RGB TIFF, a FIFO for the P band
        import numpy as np
        import tifffile

        (data / "three_band").mkdir(parents=True)
        tifffile.imwrite(data / "three_band" / "6120_2_2.tif", np.ones((3, 48, 48), np.uint16))
        path = _fifo(data / "sixteen_band" / "6120_2_2_P.tif")
    proc = _cli("align", data, "6120_2_2", tmp_path / "out.h5", "--threads", 1, cwd=tmp_path)
    _assert_refused(proc, path, "a FIFO (named pipe)")
    assert not (tmp_path / "out.h5").exists()


def test_align_refuses_a_directory_in_place_of_a_tiff(tmp_path):
    data = tmp_path / "data"
    path = data / "three_band" / "6120_2_2.tif"
    path.mkdir(parents=True)
    proc = _cli("align", data, "6120_2_2", tmp_path / "out.h5", cwd=tmp_path)
    _assert_refused(proc, path, "a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize(
    "command, name",
    [
        ("stats", "stack.h5"),  # HDF5 (open_h5)
        ("gather", "piece.csv"),  # CSV (open_csv)
        ("polygonize", "pred.h5"),  # HDF5 prediction
    ],
)
def test_steps_refuse_a_fifo_input(tmp_path, command, name):
    fifo = _fifo(tmp_path / name)
    out = tmp_path / "out"
    if command == "stats":
        args = ["stats", f"{out}.json", fifo]
    elif command == "gather":
        args = ["gather", f"{out}.csv", fifo]
    else:
        grid = tmp_path / "grid.csv"
        grid.write_text(",Xmax,Ymin\nI1,0.009,-0.009\n")
        args = ["polygonize", "--class", 1, "--grid-sizes", grid, "--threshold", 0.5, fifo,
                f"{out}.csv"]  # fmt: skip
    proc = _cli(*args, cwd=tmp_path)
    _assert_refused(proc, fifo, "a FIFO (named pipe)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_check_regular(tmp_path):
    f = tmp_path / "f.json"
    f.write_text("{}")
    assert check_regular(f) == f
    with pytest.raises(DstlError, match="file not found"):
        check_regular(tmp_path / "missing.json")
    with pytest.raises(DstlError, match="a directory, expected a regular file"):
        check_regular(tmp_path)
    with pytest.raises(DstlError, match="a FIFO"):
        check_regular(_fifo(tmp_path / "p.json"))


READERS = {
    "read_json_file": "dstl_hpc.prepare.stacks",
    "read_sweep": "dstl_hpc.scoring.files",
    "read_classes": "dstl_hpc.sources.base",
    "load_stats": "dstl_hpc.train.data",
    "read_grid_sizes": "dstl_hpc.sources.dstl",
    "read_best_epochs": "dstl_hpc.train.best",
    "read_metrics": "dstl_hpc.plots.figures",
    "read_model_obj": "dstl_hpc.train.model",
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_a_fifo(tmp_path, reader):
    """In a subprocess: a reader that opened the FIFO would block forever."""
    fifo = _fifo(tmp_path / "p.in")
    args = ", [1]" if reader == "read_best_epochs" else ""
    code = (
        f"from {READERS[reader]} import {reader}\n"
        "from dstl_hpc.errors import DstlError\n"
        f"try:\n    {reader}({str(fifo)!r}{args})\n"
        "except DstlError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout.strip() == f"{fifo}: a FIFO (named pipe), expected a regular file", (
        proc.stderr
    )
