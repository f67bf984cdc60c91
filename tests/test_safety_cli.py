"""Every step refuses to write over its inputs or into the data directory, refuses
values no step can use, and fails cleanly when the machine does (full disk,
read-only folder, SIGTERM, a killed earlier run): one line, exit 2, nothing left."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from dstl_hpc.cli import main
from dstl_hpc.prepare.stacks import write_prediction, write_stack
from dstl_hpc.sources.dstl import CHANNELS

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return rc, err


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture
def files(tmp_path):
    """A stack, a prediction, a grid_sizes.csv and a polygon CSV, as the steps write them."""
    rng = np.random.default_rng(0)
    stacks = tmp_path / "stacks"
    stack = stacks / "img_1.h5"
    write_stack(stack, rng.integers(0, 2000, (len(CHANNELS), 48, 48), dtype=np.uint16), "img_1", {})
    pred = tmp_path / "pred" / "img_1.h5"
    write_prediction(pred, rng.integers(0, 255, (2, 48, 48), dtype=np.uint8), "img_1", [1, 2])
    grid = tmp_path / "grid_sizes.csv"
    grid.write_text(",Xmax,Ymin\nimg_1,0.009,-0.009\n")
    csv = tmp_path / "class_1.csv"
    csv.write_text("ImageId,ClassType,MultipolygonWKT\nimg_1,1,MULTIPOLYGON EMPTY\n")
    return {"stack": stack, "pred": pred, "grid": grid, "csv": csv, "root": tmp_path}


# ------------------------------------------------------------ outputs over inputs


def test_polygonize_with_a_forgotten_output_does_not_write_over_the_prediction(files, capsys):
    other = files["root"] / "pred" / "img_2.h5"
    write_prediction(other, np.zeros((2, 48, 48), np.uint8), "img_2", [1, 2])
    before = snapshot(files["root"])
    rc, err = run_cli(
        capsys, "polygonize", files["pred"], other, "--class", 1,
        "--grid-sizes", files["grid"], "--threshold", 0.5,
    )  # fmt: skip
    assert rc == 2
    assert err.startswith(f"dstl-hpc polygonize: error: {other}: OUT.csv must end in .csv")
    assert snapshot(files["root"]) == before


def test_predict_out_dir_equal_to_the_stacks_folder_is_refused(files, capsys):
    before = snapshot(files["root"])
    model = files["root"] / "model.pt"
    model.write_bytes(b"not read: refused before")
    rc, err = run_cli(capsys, "predict", model, files["stack"], "--out-dir", files["stack"].parent)
    assert rc == 2 and "is also an input; refusing to write over it" in err
    assert str(files["stack"]) in err
    assert snapshot(files["root"]) == {**before, model: model.read_bytes()}


def test_predict_output_equal_to_its_stack_is_refused(files, capsys):
    model = files["root"] / "model.pt"
    model.write_bytes(b"x")
    rc, err = run_cli(capsys, "predict", model, files["stack"], files["stack"])
    assert rc == 2 and "is also an input" in err


def test_predict_output_must_be_hdf5(files, capsys):
    model = files["root"] / "model.pt"
    model.write_bytes(b"x")
    rc, err = run_cli(capsys, "predict", model, files["stack"], files["root"] / "out.csv")
    assert rc == 2 and "must end in .h5" in err


def test_an_output_reached_through_a_symlink_is_still_an_input(files, capsys):
    link = files["root"] / "link.csv"
    link.symlink_to(files["csv"])
    before = files["csv"].read_bytes()
    rc, err = run_cli(capsys, "gather", link, files["csv"])
    assert rc == 2 and "is also an input" in err
    assert files["csv"].read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        lambda f: ["stats", f["stack"], f["stack"]],
        lambda f: ["stats", f["root"] / "stats.csv", f["stack"]],
        lambda f: ["gather", f["csv"], f["csv"]],
        lambda f: ["merge", f["csv"], f["csv"], "--sample", f["csv"]],
        lambda f: ["score", f["csv"], f["csv"], "--json", f["csv"]],
        lambda f: [
            "sweep",
            f["grid"],
            "--class",
            1,
            "--truth",
            f["csv"],
            "--grid-sizes",
            f["grid"],
            "--predictions",
            f["pred"],
        ],  # fmt: skip
        lambda f: ["show", f["stack"], f["stack"]],
        lambda f: ["plots", "table", f["csv"], "--csv", f["csv"]],
    ],
)
def test_no_step_writes_over_an_input(files, capsys, argv):
    before = snapshot(files["root"])
    rc, err = run_cli(capsys, *argv(files))
    assert rc == 2, err
    assert err.startswith("dstl-hpc ") and ": error: " in err and "\n" not in err
    assert snapshot(files["root"]) == before


def test_outputs_never_go_into_the_data_directory(tmp_path, capsys):
    from dstl_hpc.sources.synthetic import generate

    data = tmp_path / "data"
    generate(data, n_images=3, n_train=2, size=(64, 64), seed=0)
    before = snapshot(data)
    image = "6010_0_0"
    for argv in (
        ["align", data, image, data / "stacks" / f"{image}.h5"],
        ["masks", data, image, data / f"{image}.h5"],
        [
            "score",
            data / "train_wkt_v4.csv",
            data / "train_wkt_v4.csv",
            "--data-dir",
            data,
            "--json",
            data / "scores.json",
        ],  # fmt: skip
    ):
        rc, err = run_cli(capsys, *argv)
        assert rc == 2 and "is inside the data directory" in err, err
    assert snapshot(data) == before


def test_synth_never_replaces_a_directory_that_is_not_synthetic(tmp_path, capsys):
    user = tmp_path / "dstl"
    (user / "three_band").mkdir(parents=True)
    (user / "grid_sizes.csv").write_text("precious")
    before = snapshot(user)
    rc, err = run_cli(capsys, "synth", user, "--images", 3, "--train", 2, "--size", 64, 64)
    assert rc == 2 and "refusing to replace it" in err
    assert snapshot(user) == before


# --------------------------------------------------------------- values refused


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--epsilon", "nan"], "--epsilon"),
        (["--epsilon", "-1"], "--epsilon"),
        (["--min-area", "inf"], "--min-area"),
        (["--threshold", "nan"], "--threshold"),
        (["--threshold", "1.5"], "--threshold"),
    ],
)
def test_polygonize_refuses_values_no_step_can_use(files, capsys, argv, flag):
    out = files["root"] / "out.csv"
    args = ["polygonize", files["pred"], out, "--class", 1, "--grid-sizes", files["grid"]]
    if "--threshold" not in argv:
        args += ["--threshold", 0.5]
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in [*args, *argv]])
    assert exc.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--tile", "-5"], ["--threads", "0"]])
def test_predict_refuses_zero_batches_and_negative_sizes(files, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "m.pt", str(files["stack"]), "out.h5", *argv])
    assert exc.value.code == 2 and argv[0] in capsys.readouterr().err


def test_sweep_refuses_a_non_finite_threshold_list(files, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "o.json", "--class", "1", "--truth", "t.csv", "--grid-sizes", "g.csv",
              "--predictions", "p.h5", "--thresholds", "0.2", "nan"])  # fmt: skip
    assert exc.value.code == 2 and "--thresholds" in capsys.readouterr().err


def test_masks_refuses_a_non_finite_pre_buffer(tmp_path, capsys):
    rc, err = run_cli(
        capsys, "masks", tmp_path / "data", "x", tmp_path / "o.h5", "--pre-buffer", "2=nan"
    )
    assert rc == 2 and "--pre-buffer '2=nan'" in err


# --------------------------------------------------------- failures of the machine


@contextlib.contextmanager
def small_tmpfs(path, size="64k"):
    """A tiny filesystem (root only; skipped where mounting is not allowed)."""
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_through_the_cli(tmp_path):
    from dstl_hpc.sources.synthetic import generate

    data = tmp_path / "data"
    generate(data, n_images=3, n_train=2, size=(96, 96), seed=0)
    with small_tmpfs(tmp_path / "full", "16k") as full:
        out = full / "stack.h5"
        proc = subprocess.run(
            [sys.executable, "-m", "dstl_hpc", "align", str(data), "6010_0_0", str(out)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        # HDF5 written straight to a full disk crashed align (SIGSEGV); now one line.
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if "error" in line]
        assert errors == [f"dstl-hpc align: error: {out}: cannot write (No space left on device)"]
        assert list(full.iterdir()) == []


def test_read_only_folder_is_one_line(files, tmp_path):
    with small_tmpfs(tmp_path / "ro", "1m") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        proc = subprocess.run(
            [sys.executable, "-m", "dstl_hpc", "gather", str(ro / "sub" / "out.csv"),
             str(files["csv"])],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 2
        assert proc.stderr.strip() == (
            f"dstl-hpc gather: error: {ro / 'sub' / 'out.csv'}: cannot write "
            "(Read-only file system)"
        )


def test_a_killed_writers_temporary_file_is_removed_by_the_next_run(files, capsys):
    out = files["root"] / "stats.json"
    stale = [out.parent / f".stats.json.{uuid.uuid4().hex[:8]}.tmp" for _ in range(2)]
    for s in stale:
        s.write_text("half written")
    keep = out.parent / ".stats.json.user-notes"
    keep.write_text("not ours")
    assert main(["stats", str(out), str(files["stack"])]) == 0
    assert out.exists() and keep.exists() and not any(s.exists() for s in stale)


def test_sigterm_removes_the_temporary_output(tmp_path):
    out = tmp_path / "synthetic"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dstl_hpc", "synth", str(out), "--images", "30", "--train", "20",
         "--size", "768", "768"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "synth finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated (SIGTERM)" in err
    assert list(tmp_path.iterdir()) == []


def test_main_gives_the_callers_sigterm_handler_back(files, capsys):
    before = signal.getsignal(signal.SIGTERM)
    main(["stats", str(files["root"] / "s.json"), str(files["stack"])])
    assert signal.getsignal(signal.SIGTERM) is before
