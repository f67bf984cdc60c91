import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from dstl_hpc.cli import build_parser, main
from dstl_hpc.config.settings import (
    PREDICT_KEYS,
    TRAIN_DEFAULTS,
    merge_settings,
    validate_settings,
)
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.stacks import write_mask, write_stack
from dstl_hpc.train import cpu_count, epoch_batches, metrics_columns, train
from dstl_hpc.train.model import load_model_file

torch.set_num_threads(1)

CONTRACT_KEYS = (
    "classes n_channels indices filters_base top_scale dropout patch_inner patch_border batch_size lr "
    "lr_decay_epochs lr_decay_factor optimizer_reset epochs epoch_fraction patches_per_epoch "
    "min_steps log_loss dice_loss "
    "rotate_deg flips jitter oversample sample_margin augment_on "
    "in_memory bf16 channels_last cudnn_benchmark num_workers seed valid_tile"
).split()


def _dataset(root, n=4, size=64, seed=0):
    """Bright squares (class 1) on noise; ids d0..d{n-1}; returns the stats dict."""
    rng = np.random.default_rng(seed)
    ids = [f"d{i}" for i in range(n)]
    for i in ids:
        mask = np.zeros((10, size, size), np.uint8)
        for _ in range(max(2, size * size // 900)):
            h, w = rng.integers(6, 16, 2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            mask[0, y : y + h, x : x + w] = 1
        img = rng.normal(300, 20, (20, size, size))
        img[:3] += 200.0 * mask[0]
        write_stack(root / "stacks" / f"{i}.h5", img.clip(0).astype(np.uint16), i, {})
        write_mask(root / "masks" / f"{i}.h5", mask, i, {})
    stats = {"channels": [f"c{k}" for k in range(20)], "mean": [300.0] * 20, "std": [100.0] * 20}
    stats["images"] = ids
    (root / "stats.json").write_text(json.dumps(stats))
    return ids


TINY = {
    "classes": [1],
    "n_channels": 3,
    "filters_base": 4,
    "patch_inner": 32,
    "patch_border": 16,
    "batch_size": 8,
    "lr": 0.01,
    "lr_decay_epochs": [2],
    "epochs": 3,
    "epoch_fraction": 1.35,  # 3 images of 64^2 -> 2 batches of 8
    "dropout": 0.1,
    "jitter": 0.05,
    "rotate_deg": 45.0,
    "valid_tile": 32,
}


def _run(root, name, settings, hooks=None, valid=("d3",)):
    return train(
        out=root / name / "model.pt",
        metrics=root / name / "metrics.csv",
        checkpoint=root / name / "ckpt.pt",
        stats=root / "stats.json",
        stacks_dir=root / "stacks",
        masks_dir=root / "masks",
        train_ids=["d0", "d1", "d2"],
        valid_ids=list(valid),
        group="g",
        variant="validation",
        settings=merge_settings(settings),
        device="cpu",
        threads=1,
        hooks=hooks,
    )


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _kill_after_epoch(n, sig=signal.SIGTERM):
    def hook(epochs_done):
        if epochs_done == n:
            os.kill(os.getpid(), sig)

    return {"epoch": hook}


def _kill_at_batch(epoch, batch, sig):
    def hook(e, done):
        if (e, done) == (epoch, batch):
            os.kill(os.getpid(), sig)

    return {"batch": hook}


def test_killed_and_resumed_runs_end_with_identical_weights(tmp_path, caplog):
    _dataset(tmp_path)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)
    assert epoch_batches(merge_settings(TINY), 3 * 64 * 64) == 2
    # A fixed patch count, whatever the area (the seed's code: 554 batches of 128).
    seed = merge_settings(TINY, {"patches_per_epoch": 70912, "batch_size": 128})
    assert epoch_batches(seed, 3 * 64 * 64) == 554
    assert epoch_batches(seed, 25 * 3348 * 3392) == 554
    assert _run(tmp_path, "full", TINY) == 0
    ref, _ = load_model_file(tmp_path / "full" / "model.pt")
    ref_rows = _rows(tmp_path / "full" / "metrics.csv")
    assert [r["epoch"] for r in ref_rows] == ["1", "2", "3"]
    assert list(ref_rows[0]) == metrics_columns([1])
    assert [float(r["lr"]) for r in ref_rows] == pytest.approx([0.01, 0.01, 0.002])
    assert not (tmp_path / "full" / "ckpt.pt").exists()

    # SIGTERM after epoch 1: exit 143, checkpoint kept, no model yet; then resume.
    assert _run(tmp_path, "a", TINY, _kill_after_epoch(1)) == 143
    assert (tmp_path / "a" / "ckpt.pt").exists() and not (tmp_path / "a" / "model.pt").exists()
    assert len(_rows(tmp_path / "a" / "metrics.csv")) == 1
    with caplog.at_level(logging.INFO, logger="dstl_hpc.train"):
        assert _run(tmp_path, "a", TINY) == 0
    assert "resuming from checkpoint" in caplog.text and "1 epoch(s) done" in caplog.text

    # SIGUSR1 in the middle of epoch 2 (after its first batch): exit 138, exact resume.
    assert _run(tmp_path, "b", TINY, _kill_at_batch(1, 1, signal.SIGUSR1)) == 138
    assert _run(tmp_path, "b", TINY) == 0

    for name in ("a", "b"):
        model, meta = load_model_file(tmp_path / name / "model.pt")
        assert meta["epochs_done"] == 3
        for (k, v), (k2, v2) in zip(
            ref.state_dict().items(), model.state_dict().items(), strict=True
        ):
            assert k == k2 and torch.equal(v, v2), (name, k)
        rows = _rows(tmp_path / name / "metrics.csv")
        for r, rr in zip(rows, ref_rows, strict=True):
            for col in ("epoch", "lr", "train_loss", "valid_loss", "jaccard_1"):
                assert r[col] == rr[col], (name, col)
        assert not (tmp_path / name / "ckpt.pt").exists()
    # signal handlers restored
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)) == handlers


@pytest.mark.parametrize("augment_on", ["cpu", "device"])
def test_workers_and_hdf5_reads_give_the_same_training(tmp_path, augment_on):
    # Patch i of epoch e is seeded by (seed, e, i): worker count and data source do not matter.
    _dataset(tmp_path)
    one = {**TINY, "epochs": 1, "augment_on": augment_on}
    assert _run(tmp_path, "mem", {**one, "in_memory": True, "num_workers": 0}, valid=()) == 0
    assert _run(tmp_path, "h5", {**one, "in_memory": False, "num_workers": 2}, valid=()) == 0
    a, _ = load_model_file(tmp_path / "mem" / "model.pt")
    b, _ = load_model_file(tmp_path / "h5" / "model.pt")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_checkpoint_of_other_settings_is_ignored_with_a_warning(tmp_path, caplog):
    _dataset(tmp_path)
    short = {**TINY, "epochs": 2}
    assert _run(tmp_path, "x", short, _kill_after_epoch(1)) == 143
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.train"):
        assert _run(tmp_path, "x", {**short, "seed": 1}) == 0
    assert "ignoring it and training from scratch" in caplog.text
    # 2 epochs x 2 batches: far too few steps to learn real imagery, and the log says so.
    assert "only 4 gradient steps (2 epochs x 2 batches of 8)" in caplog.text
    assert _run(tmp_path, "y", {**short, "seed": 1}) == 0
    a, _ = load_model_file(tmp_path / "x" / "model.pt")
    b, _ = load_model_file(tmp_path / "y" / "model.pt")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("augment_on", ["cpu", "device"])
def test_learns_an_easy_dataset(tmp_path, augment_on):
    # device: the DataLoader crops; whole batches are rotated by grid_sample (here on the CPU)
    ids = _dataset(tmp_path, n=5, size=96, seed=0)
    settings = merge_settings(
        {
            **TINY,
            "augment_on": augment_on,
            "epochs": 8,
            "lr": 0.005,
            "lr_decay_epochs": [6],
            "epoch_fraction": 1.0,
            "dropout": 0.0,
            "jitter": 0.0,
            "rotate_deg": 180.0,
            "dice_loss": 1.0,
            # Tiles of the training patch's size, as the reference predicted: a net
            # trained this briefly on 64 px inputs does not carry over to large tiles.
            "valid_tile": 32,
        }
    )
    rc = train(
        out=tmp_path / "m.pt",
        metrics=tmp_path / "m.csv",
        checkpoint=tmp_path / "c.pt",
        stats=json.loads((tmp_path / "stats.json").read_text()),
        stacks_dir=tmp_path / "stacks",
        masks_dir=tmp_path / "masks",
        train_ids=ids[:4],
        valid_ids=ids[4:],
        group="g",
        variant="validation",
        settings=settings,
        device="cpu",
        threads=1,
    )
    assert rc == 0
    rows = _rows(tmp_path / "m.csv")
    assert float(rows[-1]["jaccard_1"]) > 0.5  # the all-zero predictor scores 0
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


def _cli_args(root, out="m.pt"):
    return [
        "train",
        "--out", str(root / out),
        "--metrics", str(root / "m.csv"),
        "--checkpoint", str(root / "c.pt"),
        "--stats", str(root / "stats.json"),
        "--stacks-dir", str(root / "stacks"),
        "--masks-dir", str(root / "masks"),
        "--train-ids", "d0", "d1",
        "--group", "roads",
        "--variant", "all",
    ]  # fmt: skip


def test_cli_trains_without_validation(tmp_path):
    _dataset(tmp_path, n=2)
    settings = {k: v for k, v in TINY.items() if k not in ("epochs", "filters_base")}
    args = _cli_args(tmp_path) + ["--settings", json.dumps(settings), "--epochs", "1"]
    args += ["--filters-base", "2", "--flips", "false", "--classes", "1", "4", "--threads", "1"]
    assert main(args) == 0
    model, meta = load_model_file(tmp_path / "m.pt")
    assert meta["hparams"]["filters_base"] == 2 and meta["hparams"]["flips"] is False
    assert meta["classes"] == [1, 4] and meta["group"] == "roads" and meta["variant"] == "all"
    assert meta["channels"] == ["c0", "c1", "c2"] and meta["mean"] == [300.0] * 3
    rows = _rows(tmp_path / "m.csv")
    assert len(rows) == 1 and rows[0]["valid_loss"] == "" and rows[0]["jaccard_4"] == ""
    assert model.n_classes == 2


def test_stacks_come_from_several_dirs_first_match_wins(tmp_path):
    from dstl_hpc.train import image_paths

    a, b = tmp_path / "part0", tmp_path / "part1"
    for d, ids in ((a, ("x", "y")), (b, ("y", "z"))):
        d.mkdir()
        for i in ids:
            (d / f"{i}.h5").write_bytes(b"")
    assert image_paths([a, b], ["z", "x", "y"], "stack") == [b / "z.h5", a / "x.h5", a / "y.h5"]
    assert image_paths(a, ["x"], "stack") == [a / "x.h5"]
    with pytest.raises(
        DstlError, match=r"w\.h5: stack file not found \(looked in .*part0, .*part1"
    ):
        image_paths([a, b], ["w"], "stack")


def test_cli_reads_stacks_from_align_parts(tmp_path):
    _dataset(tmp_path, n=2)
    (tmp_path / "part1").mkdir()
    (tmp_path / "stacks" / "d1.h5").rename(tmp_path / "part1" / "d1.h5")
    args = _cli_args(tmp_path)
    at = args.index("--stacks-dir") + 2
    args[at:at] = [str(tmp_path / "part1")]
    settings = {k: v for k, v in TINY.items() if k not in ("epochs",)}
    args += ["--settings", json.dumps(settings), "--epochs", "1", "--threads", "1"]
    assert main(args) == 0
    assert (tmp_path / "m.pt").exists()


def test_cli_errors_are_one_line(tmp_path, capsys):
    _dataset(tmp_path, n=2)
    base = _cli_args(tmp_path)
    assert main(base + ["--settings", json.dumps({"classes": [1], "filter_base": 4})]) == 2
    err = capsys.readouterr().err
    assert "unknown setting 'filter_base' (did you mean 'filters_base'?)" in err
    assert main(base + ["--settings", "{}"]) == 2
    assert "classes is required" in capsys.readouterr().err
    assert main(base + ["--settings", "[1]"]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    args = base + ["--classes", "1", "--valid-ids", "zz"]
    assert main(args) == 2
    assert "zz.h5: stack file not found" in capsys.readouterr().err
    (tmp_path / "stats.json").unlink()
    assert main(base + ["--classes", "1"]) == 2
    assert "stats.json: file not found" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_cli_help_lists_every_setting_with_its_default():
    parser = build_parser("train")
    sub = parser._subparsers._group_actions[0].choices["train"]
    text = " ".join(sub.format_help().split())
    for key in TRAIN_DEFAULTS:
        assert "--" + key.replace("_", "-") in text, key
    assert "(default: 32)" in text and "(default: [25, 50])" in text
    assert '(default: "auto")' in text and "(required)" in text
    for opt in ("--out", "--metrics", "--checkpoint", "--stats", "--stacks-dir", "--masks-dir"):
        assert opt in text
    assert "--device {auto,cpu,cuda}" in text and "143 after SIGTERM" in text


def test_settings_defaults_and_validation():
    assert list(TRAIN_DEFAULTS) == CONTRACT_KEYS
    assert not set(PREDICT_KEYS) & set(TRAIN_DEFAULTS)  # predictor's, never train's
    s = merge_settings({"classes": [9, 10]}, {"top_scale": 4, "lr_decay_epochs": [50, 25]})
    assert s["lr_decay_epochs"] == [25, 50] and s["lr_decay_factor"] == 5.0
    assert s["patch_inner"] + 2 * s["patch_border"] == 96
    bad = [
        ({"classes": [0]}, "class ids in 1..255"),
        ({"classes": [1, 1]}, "duplicates"),
        ({"classes": [1], "top_scale": 3}, "top_scale must be one of"),
        ({"classes": [1], "patch_inner": 60}, "must be divisible by 16"),
        ({"classes": [1], "top_scale": 4, "patch_border": 8}, "must be divisible by 32"),
        ({"classes": [1], "flips": "yes"}, "flips must be true or false"),
        ({"classes": [1], "oversample": 1.5}, "oversample must be <= 1.0"),
        ({"classes": [1], "in_memory": "maybe"}, "in_memory must be auto"),
        ({"classes": [1], "augment_on": "gpu"}, "augment_on must be auto, cpu or device"),
        ({"classes": [1], "num_workers": -1}, "num_workers must be >= 0"),
        ({"classes": [1], "log_loss": 0, "dice_loss": 0}, "log_loss \\+ dice_loss"),
        ({"classes": [1], "epochs": 2.5}, "epochs must be an integer"),
    ]
    for layer, msg in bad:
        with pytest.raises(DstlError, match=msg):
            merge_settings(layer, where="groups.x")
    assert merge_settings({"classes": [1], "num_workers": "auto"})["num_workers"] == "auto"
    with pytest.raises(DstlError, match="missing setting"):
        validate_settings({"classes": [1]})
    assert cpu_count() >= 1


def test_settings_and_cli_do_not_import_torch():
    code = (
        "import sys; import dstl_hpc.config.settings; from dstl_hpc.cli import build_parser; "
        "build_parser('train'); "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__) + "/..")


def test_progress_lines_in_a_log_every_n_seconds(tmp_path, caplog):
    _dataset(tmp_path)
    settings = merge_settings({**TINY, "epochs": 1})
    with caplog.at_level(logging.INFO, logger="dstl_hpc.train"):
        rc = train(
            out=tmp_path / "p" / "model.pt", metrics=tmp_path / "p" / "metrics.csv",
            checkpoint=tmp_path / "p" / "ckpt.pt", stats=tmp_path / "stats.json",
            stacks_dir=tmp_path / "stacks", masks_dir=tmp_path / "masks",
            train_ids=["d0", "d1", "d2"], group="g", variant="all", settings=settings,
            device="cpu", threads=1, log_every=1e-6,
        )  # fmt: skip
    assert rc == 0
    # not a terminal (pytest captures stderr): log lines, not a bar; 2 batches per epoch
    lines = [r.getMessage() for r in caplog.records if "epoch ETA" in r.getMessage()]
    assert len(lines) == 1 and re.match(
        r"epoch 1/1: batch 1/2 loss \d+\.\d{4} \d+\.\d patches/s, epoch ETA \d\d:\d\d:\d\d$",
        lines[0],
    ), lines


def test_progress_bar_on_a_terminal(capsys):
    from dstl_hpc.train import Progress

    bar = Progress(4, 0, "epoch 1/3", tty=True, every=60.0)
    bar.update(2, 0.5, 10.0)
    shown = str(bar.bar)  # what tqdm draws (it throttles its own redraws)
    bar.close()
    assert "epoch 1/3" in capsys.readouterr().err
    assert "2/4" in shown and "loss 0.5000 10 patches/s" in shown


def test_signal_flag_sets_the_flag_and_restores_the_handlers():
    import threading

    from dstl_hpc.train.signals import EXIT_CODES, signal_flag

    seen = []

    def mine(signum, _frame):
        seen.append(signum)

    before = signal.signal(signal.SIGUSR1, mine)
    try:
        with signal_flag() as flag:
            assert flag["signal"] is None
            os.kill(os.getpid(), signal.SIGUSR1)
            assert flag["signal"] == signal.SIGUSR1 and EXIT_CODES[flag["signal"]] == 138
            assert seen == []  # ours replaced the caller's handler...
        assert signal.getsignal(signal.SIGUSR1) is mine  # ...and it is back
        os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, before)

    # outside the main thread no handler can be installed: the flag stays unset
    states = []

    def in_thread():
        with signal_flag() as flag:
            states.append((flag["signal"], signal.getsignal(signal.SIGTERM)))

    term = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert states == [(None, term)]


def _state_objects(seed):
    from dstl_hpc.train.model import UNet

    torch.manual_seed(seed)
    model = UNet(3, 1, filters_base=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1], gamma=0.2)
    return model, optimizer, scheduler


def test_checkpoint_round_trip_restores_states_and_position(tmp_path, caplog):
    import random

    from dstl_hpc.train.batches import PatchDataset
    from dstl_hpc.train.state import Checkpoint, Position, fingerprint, load_checkpoint

    patches = PatchDataset(None, 16, seed=5)  # a checkpoint records its state only
    patches.set_epoch(1)
    s = merge_settings(TINY)
    fp = fingerprint(s, ["a"], ["b"], [1.0] * 3, [2.0] * 3, "g", "validation")
    # settings that do not change the weights (prediction settings...) may change
    assert fingerprint({**s, "tile": 64, "epochs": 9}, ["a"], ["b"], [1.0] * 3, [2.0] * 3,
                       "g", "validation") == fp  # fmt: skip
    model, optimizer, scheduler = _state_objects(0)
    model(torch.rand(2, 3, 64, 64)).mean().backward()
    optimizer.step()
    scheduler.step()
    path = tmp_path / "ckpt.pt"
    rows = [{"epoch": 1, "lr": 0.01, "train_loss": 0.5}]
    Checkpoint(path, fp, model, optimizer, scheduler, patches).save(
        Position(1, 3, {"loss_sum": 1.5, "seconds": 2.0}, rows)
    )
    want = torch.rand(3), np.random.rand(3), random.random()
    assert load_checkpoint(path)["sampler"] == {"seed": 5, "epoch": 1, "length": 16}

    other = _state_objects(1)
    pos = Checkpoint(path, fp, *other, patches).resume(n_batches=7)
    assert (pos.epoch, pos.batch, pos.partial, pos.rows) == (
        1,
        3,
        {"loss_sum": 1.5, "seconds": 2.0},
        rows,
    )
    for a, b in zip(model.state_dict().values(), other[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert other[1].state_dict()["state"][0]["step"] == 1
    assert other[2].get_last_lr() == scheduler.get_last_lr() == [pytest.approx(0.002)]
    # the RNG states too: the same draws follow
    got = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]

    # another training's checkpoint, or an unreadable one: the start, with a warning
    with caplog.at_level(logging.WARNING, logger="dstl_hpc.train"):
        fresh = Checkpoint(path, fp + "x", *_state_objects(2), patches)
        assert fresh.resume(7) == Position()
        path.write_bytes(b"not a checkpoint")
        assert Checkpoint(path, fp, *_state_objects(2), patches).resume(7) == Position()
    assert "ignoring it and training from scratch" in caplog.text and "is unreadable" in caplog.text
    fresh.remove()
    assert not path.exists()
    fresh.remove()  # no file: nothing to do


def test_cpu_count_honours_slurm_where_asked(monkeypatch):
    from dstl_hpc.device import cpu_count as device_cpu_count

    affinity = len(os.sched_getaffinity(0))
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert cpu_count() == device_cpu_count(slurm=False) == affinity
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "37")
    assert cpu_count() == 37  # training: the job's allocation
    assert device_cpu_count(slurm=False) == affinity  # align: this process's CPUs
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "0")
    assert cpu_count() == affinity


def _water_dataset(root, n=4, size=64, seed=3):
    """Squares (class 1) that only an index shows: green (M3) up, NIR2 (M8) down, so
    NDWI is high, while R, G, B and the other bands are the same noise everywhere."""
    from dstl_hpc.prepare.stats import channel_stats
    from dstl_hpc.sources.dstl import CHANNELS

    rng = np.random.default_rng(seed)
    ids = [f"d{i}" for i in range(n)]
    for i in ids:
        mask = np.zeros((10, size, size), np.uint8)
        for _ in range(5):
            h, w = rng.integers(8, 16, 2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            mask[0, y : y + h, x : x + w] = 1
        img = rng.normal(400, 30, (20, size, size))
        img[CHANNELS.index("M3")] += 150.0 * mask[0]
        img[CHANNELS.index("M8")] -= 150.0 * mask[0]
        write_stack(root / "stacks" / f"{i}.h5", img.clip(1).astype(np.uint16), i, {})
        write_mask(root / "masks" / f"{i}.h5", mask, i, {})
    stats = channel_stats([root / "stacks" / f"{i}.h5" for i in ids[:3]])
    (root / "stats.json").write_text(json.dumps(stats))


def test_index_channels_let_the_model_see_what_the_bands_it_reads_hide(tmp_path):
    """n_channels 3 (R, G, B: noise only) cannot find the squares; with the ndwi index
    channel computed at load time it can, and predict computes it the same way."""
    from dstl_hpc.predict.files import predict_files
    from dstl_hpc.prepare.stacks import read_mask, read_prediction

    _water_dataset(tmp_path)
    base = {**TINY, "epochs": 8, "jitter": 0.0, "dropout": 0.0, "epoch_fraction": 3.0}
    scores = {}
    for name, indices in (("plain", []), ("ndwi", ["ndwi"])):
        assert _run(tmp_path, name, {**base, "indices": indices}) == 0
        scores[name] = float(_rows(tmp_path / name / "metrics.csv")[-1]["jaccard_1"])
    assert scores["ndwi"] > 0.5 and scores["plain"] < 0.3, scores
    _, meta = load_model_file(tmp_path / "ndwi" / "model.pt")
    assert meta["channels"] == ["R", "G", "B", "ndwi"] and len(meta["mean"]) == 4
    out = tmp_path / "d3_pred.h5"
    model = tmp_path / "ndwi" / "model.pt"
    predict_files(model, [(tmp_path / "stacks" / "d3.h5", out)], "cpu", 1, tile=32)
    prob = read_prediction(out)[0][0] > 0.5
    truth = read_mask(tmp_path / "masks" / "d3.h5", [1])[0] > 0
    assert (prob & truth).sum() / (prob | truth).sum() > 0.5
