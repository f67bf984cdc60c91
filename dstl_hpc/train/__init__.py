"""Train one group's UNet: resumable, with per-epoch validation and a metrics CSV.

``train(...)`` returns an exit code:

* 0: training finished; the model file and metrics CSV are written (atomically)
  and the checkpoint is deleted.
* 143 (SIGTERM) or 138 (SIGUSR1): a signal arrived. At the next batch boundary
  the exact state (model, optimizer, scheduler, RNG states, position in the epoch,
  loss so far, metrics rows) is written to the checkpoint and the run stops. A
  run with the same arguments resumes from it and ends with the same weights as
  an uninterrupted run (bit for bit on CPU).

A checkpoint is also written after every epoch. A checkpoint made with different
settings, classes, ids or stats is ignored with a warning (training starts
afresh and overwrites it). Settings that do not change the result (``epochs``,
``num_workers``, ``in_memory``, ``valid_tile``, ``cudnn_benchmark``, prediction
keys) may change between runs.

Patches of epoch e are ``PatchDataset`` items seeded by (seed, e, i): the batches
do not depend on the worker count or on interruptions.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import random
import signal
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import torch

from dstl_hpc.atomic import write_text
from dstl_hpc.augment import DeviceAugment, resolve_augment_on
from dstl_hpc.dataset import CHANNELS
from dstl_hpc.device import resolve_device
from dstl_hpc.errors import DstlError
from dstl_hpc.losses import combine_terms, dice_bce_loss, loss_terms
from dstl_hpc.model import build_model, normalize, predict_logits, save_atomic, save_model_file
from dstl_hpc.sampler import CropBatches, PatchBatches, PatchDataset, PatchSampler, worker_init
from dstl_hpc.settings import validate_settings

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
EXIT_CODES = {signal.SIGTERM: 143, signal.SIGUSR1: 138}
# Settings that may differ between an interrupted run and its resumption.
# Fewer gradient steps than this in a whole training are warned about: on real
# imagery ~20 steps scored 0.28 where 10x more scored 0.43 (the demo makes ~60).
FEW_STEPS = 500

RESUME_FREE = (
    "epochs",
    "num_workers",
    "in_memory",
    "valid_tile",
    "cudnn_benchmark",
    "tile",
    "shift_average",
    "shift_steps",
    "edge_margin",
)


# ------------------------------------------------------------------ helpers


def cpu_count() -> int:
    """CPUs of this job: SLURM_CPUS_PER_TASK when set, else this process's affinity."""
    env = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_stats(path) -> dict:
    """The stats JSON: {"channels": [20], "mean": [20], "std": [20], "images": [...]}."""
    path = Path(path)
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DstlError(f"{path}: not a JSON stats file ({exc})") from None
    for key in ("mean", "std"):
        vals = stats.get(key) if isinstance(stats, dict) else None
        if not isinstance(vals, list) or not all(isinstance(v, int | float) for v in vals):
            raise DstlError(f"{path}: {key!r} must be a list of numbers")
    if len(stats["mean"]) != len(stats["std"]):
        raise DstlError(f"{path}: mean and std have different lengths")
    stats.setdefault("channels", list(CHANNELS[: len(stats["mean"])]))
    return stats


def epoch_batches(settings: dict, area: int) -> int:
    """Batches per epoch, >= one: ``patches_per_epoch`` patches when set (the seed's
    code: a fixed count whatever the number of images), else ``epoch_fraction`` of the
    training area in patch_inner^2 patches."""
    patches = settings["patches_per_epoch"]
    if patches is None:
        patches = settings["epoch_fraction"] * area / settings["patch_inner"] ** 2
    return max(1, round(patches / settings["batch_size"]))


def fingerprint(settings, train_ids, valid_ids, mean, std, group, variant) -> str:
    s = {k: v for k, v in settings.items() if k not in RESUME_FREE}
    obj = {
        "settings": s,
        "train_ids": list(train_ids),
        "valid_ids": list(valid_ids),
        "mean": [float(m) for m in mean],
        "std": [float(v) for v in std],
        "group": group,
        "variant": variant,
    }
    return json.dumps(obj, sort_keys=True)


def metrics_columns(classes) -> list[str]:
    return (
        ["epoch", "lr", "train_loss", "valid_loss", "seconds"]
        + [f"jaccard_{k}" for k in classes]
        + ["mean_jaccard"]
    )


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, spec)


def write_metrics(path, rows: list[dict], classes) -> None:
    """The metrics CSV, rewritten whole and atomically."""
    cols = metrics_columns(classes)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        out = []
        for c in cols:
            v = r.get(c)
            if c == "epoch":
                out.append(str(int(v)))
            elif c == "lr":
                out.append(_fmt(v, ".6g"))
            elif c == "seconds":
                out.append(_fmt(v, ".2f"))
            else:
                out.append(_fmt(v, ".6f"))
        w.writerow(out)
    write_text(path, buf.getvalue())


class _Progress:
    """An epoch's progress: a tqdm bar on a terminal; elsewhere (a SLURM log) a log line
    every ``every`` seconds with the batches done, loss, patches/s and the epoch's ETA,
    so that a person can follow a long epoch long before it ends."""

    def __init__(self, total: int, first: int, label: str, tty: bool, every: float):
        self.total, self.first, self.label, self.every = total, first, label, every
        self.start = self.last = time.monotonic()
        self.bar = None
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=first, desc=label, unit="batch", leave=False, file=sys.stderr
            )

    def update(self, done: int, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} {rate:.0f} patches/s", refresh=False)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < self.every or done >= self.total:
            return
        self.last = now
        per_batch = (now - self.start) / max(1, done - self.first)
        eta = per_batch * (self.total - done)
        log.info(
            "%s: batch %d/%d loss %.4f %.1f patches/s, epoch ETA %s",
            self.label,
            done,
            self.total,
            loss,
            rate,
            time.strftime("%H:%M:%S", time.gmtime(eta)),
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def _signal_flag():
    """Yield a dict whose 'signal' is set by SIGTERM / SIGUSR1 (handlers restored after)."""
    state: dict = {"signal": None}

    def handler(signum, _frame):
        state["signal"] = signum
        log.warning("received %s: stopping at the next batch boundary", signal.Signals(signum).name)

    old = {}
    for sig in EXIT_CODES:
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: no handlers
            pass
    try:
        yield state
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


# --------------------------------------------------------------- checkpoint


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], np.uint32), *np_state[2:]))
    random.setstate(_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        with suppress(RuntimeError):
            torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(path, obj: dict) -> None:
    save_atomic(path, obj)


def load_checkpoint(path) -> dict | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        log.warning("checkpoint %s is unreadable (%s): starting afresh", path, exc)
        return None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        log.warning("checkpoint %s has an unknown format: starting afresh", path)
        return None
    return obj


# --------------------------------------------------------------- validation


class _ValidSet:
    """Validation images (uint16 kept in memory when ``keep``) and their masks."""

    def __init__(self, stack_paths, mask_paths, n_channels, classes, keep: bool):
        self.stack_paths, self.mask_paths = stack_paths, mask_paths
        self.n_channels, self.classes = n_channels, classes
        self.cache = [self._read(i) for i in range(len(stack_paths))] if keep else None

    def _read(self, i):
        from dstl_hpc.stacks import read_mask, read_stack

        img = read_stack(self.stack_paths[i], self.n_channels)
        msk = read_mask(self.mask_paths[i], self.classes)
        if img.shape[1:] != msk.shape[1:]:
            raise DstlError(
                f"{self.mask_paths[i]}: mask size {msk.shape[1:]} differs from "
                f"{self.stack_paths[i]} {img.shape[1:]}"
            )
        return img, msk

    def __len__(self):
        return len(self.stack_paths)

    def __iter__(self):
        for i in range(len(self)):
            yield self.cache[i] if self.cache is not None else self._read(i)


def validate(model, vset: _ValidSet, mean, std, settings, device, bf16, channels_last) -> dict:
    """Pixel Jaccard per class at p > 0.5 (summed over images) and the loss over all pixels."""
    n = len(settings["classes"])
    tp, fp, fn = np.zeros(n), np.zeros(n), np.zeros(n)
    terms = torch.zeros(n, 5, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for img, msk in vset:
            logits = predict_logits(
                model,
                normalize(img, mean, std),
                tile=settings["valid_tile"],
                device=device,
                bf16=bf16,
                channels_last=channels_last,
                batch_tiles=4 if device.type == "cuda" else 1,
            )
            pred = logits > 0
            truth = msk > 0
            tp += (pred & truth).sum((1, 2))
            fp += (pred & ~truth).sum((1, 2))
            fn += (~pred & truth).sum((1, 2))
            terms += loss_terms(torch.from_numpy(logits), torch.from_numpy(truth)).double()
    finally:
        model.train(was_training)
    loss = float(combine_terms(terms, settings["log_loss"], settings["dice_loss"]))
    out: dict = {"valid_loss": loss}
    defined = []
    for k, c in enumerate(settings["classes"]):
        denom = tp[k] + fp[k] + fn[k]
        j = float(tp[k] / denom) if denom > 0 else None
        out[f"jaccard_{c}"] = j
        if j is not None:
            defined.append(j)
    out["mean_jaccard"] = float(np.mean(defined)) if defined else None
    return out


# -------------------------------------------------------------------- train


def _paths(directories, ids, what: str) -> list[Path]:
    """``{id}.h5`` of each id, from the first of ``directories`` (one or a list) holding it."""
    dirs = (
        [Path(directories)] if isinstance(directories, str | Path) else list(map(Path, directories))
    )
    paths = []
    for i in ids:
        found = [d / f"{i}.h5" for d in dirs if (d / f"{i}.h5").exists()]
        if not found:
            where = ", ".join(str(d) for d in dirs)
            raise DstlError(f"{dirs[0] / f'{i}.h5'}: {what} file not found (looked in {where})")
        paths.append(found[0])
    return paths


def train(
    *,
    out,
    metrics,
    checkpoint,
    stats,
    stacks_dir,
    masks_dir,
    train_ids,
    valid_ids=(),
    group: str,
    variant: str,
    settings: dict,
    device: str = "auto",
    threads: int | None = None,
    hooks: dict | None = None,
    log_every: float = 60.0,
) -> int:
    """Train (or resume) and write ``out`` and ``metrics``; returns the exit code.

    ``stats`` is the stats JSON path or its dict. ``hooks`` (tests): optional
    callables ``"batch"(epoch, batches_done)`` and ``"epoch"(epochs_done)``.
    """
    hooks = hooks or {}
    s = validate_settings(settings)
    classes = s["classes"]
    train_ids, valid_ids = list(train_ids), list(valid_ids or [])
    if not train_ids:
        raise DstlError("no training images given")
    if overlap := sorted(set(train_ids) & set(valid_ids)):
        raise DstlError(f"images both in training and validation: {', '.join(overlap)}")
    stats = stats if isinstance(stats, dict) else load_stats(stats)
    nc = s["n_channels"]
    if len(stats["mean"]) < nc:
        raise DstlError(f"stats: {len(stats['mean'])} channels, n_channels is {nc}")
    mean = [float(v) for v in stats["mean"][:nc]]
    std = [float(v) for v in stats["std"][:nc]]
    channel_names = list(stats.get("channels", CHANNELS))[:nc]

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    n_threads = int(threads) if threads else cpu_count()
    torch.set_num_threads(max(1, n_threads))
    bf16 = cuda and s["bf16"]
    channels_last = cuda and s["channels_last"]
    if cuda:
        torch.backends.cudnn.benchmark = s["cudnn_benchmark"]
    workers = s["num_workers"]
    if workers == "auto":
        workers = min(8, max(0, cpu_count() - 1)) if cuda else 0

    train_stacks = _paths(stacks_dir, train_ids, "stack")
    train_masks = _paths(masks_dir, train_ids, "mask")
    valid_stacks = _paths(stacks_dir, valid_ids, "stack")
    valid_masks = _paths(masks_dir, valid_ids, "mask")

    torch.manual_seed(s["seed"])
    np.random.seed(s["seed"])
    random.seed(s["seed"])

    sampler = PatchSampler(train_stacks, train_masks, classes, mean, std, s, s["in_memory"])
    n_batches = epoch_batches(s, sampler.area)
    bs = s["batch_size"]
    steps = n_batches * s["epochs"]
    if steps < FEW_STEPS:
        log.warning(
            "only %d gradient steps (%d epochs x %d batches of %d): too few to learn real "
            "imagery; raise patches_per_epoch (the seed: 70912 patches per epoch)",
            steps,
            s["epochs"],
            n_batches,
            bs,
        )
    dataset = PatchDataset(sampler, n_batches * bs, s["seed"])
    augment_on = resolve_augment_on(s["augment_on"], dev)
    # device: the DataLoader crops, the device rotates / flips / jitters whole batches
    augment = DeviceAugment(sampler, dev) if augment_on == "device" else None
    batches = (PatchBatches if augment is None else CropBatches)(dataset, bs)
    vset = _ValidSet(valid_stacks, valid_masks, nc, classes, keep=sampler.in_memory)

    model = build_model(s, nc, len(classes)).to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=s["lr_decay_epochs"], gamma=1.0 / s["lr_decay_factor"]
    )
    fp = fingerprint(s, train_ids, valid_ids, mean, std, group, variant)

    start_epoch, start_batch, partial, rows = 0, 0, None, []
    ckpt = load_checkpoint(checkpoint)
    if ckpt is not None and ckpt.get("fingerprint") != fp:
        log.warning(
            "checkpoint %s was made with other settings, classes, ids or stats: "
            "ignoring it and training from scratch",
            checkpoint,
        )
        ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        start_epoch, start_batch = int(ckpt["epoch"]), int(ckpt["batch"])
        partial, rows = ckpt.get("partial"), list(ckpt["rows"])
        log.info(
            "resuming from checkpoint %s: %d epoch(s) done%s",
            checkpoint,
            start_epoch,
            f", epoch {start_epoch + 1} at batch {start_batch}/{n_batches}" if start_batch else "",
        )
    log.info(
        "training %s/%s: classes %s, %d train / %d valid images, %d epochs x %d batches of %d, "
        "device %s, %d threads, %d workers, data %s, augmentation on %s",
        variant,
        group,
        classes,
        len(train_ids),
        len(valid_ids),
        s["epochs"],
        n_batches,
        bs,
        dev,
        n_threads,
        workers,
        "in memory" if sampler.in_memory else "from HDF5",
        augment_on,
    )

    def checkpoint_obj(epoch: int, batch: int, part: dict | None) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": fp,
            "epoch": epoch,
            "batch": batch,
            "partial": part,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "sampler": dataset.state(),
            "rows": rows,
        }

    tty = sys.stderr.isatty()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with _signal_flag() as flag:
        for epoch in range(start_epoch, s["epochs"]):
            if flag["signal"]:
                return EXIT_CODES[flag["signal"]]
            dataset.set_epoch(epoch)
            first = start_batch if epoch == start_epoch else 0
            part = partial if (epoch == start_epoch and partial) else None
            loss_sum = part["loss_sum"] if part else 0.0
            before = part["seconds"] if part else 0.0
            t0 = time.monotonic()
            lr = optimizer.param_groups[0]["lr"]
            loader = torch.utils.data.DataLoader(
                batches,
                batch_size=None,  # PatchBatches hands out whole batches
                sampler=range(first, n_batches),
                num_workers=workers,
                pin_memory=cuda,
                worker_init_fn=worker_init if workers else None,
                generator=torch.Generator(),  # leaves the global torch RNG alone
            )
            bar = _Progress(n_batches, first, f"epoch {epoch + 1}/{s['epochs']}", tty, log_every)
            model.train()
            done = first
            for x, y in loader:
                x = x.to(dev, non_blocking=cuda)
                y = y.to(dev, non_blocking=cuda)
                if augment is not None:  # (windows, draws) -> (patches, targets)
                    x, y = augment(x, y)
                x = x.contiguous(memory_format=fmt)
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = model(x)
                loss = dice_bce_loss(logits.float(), y, s["log_loss"], s["dice_loss"])
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach())
                done += 1
                elapsed = time.monotonic() - t0
                bar.update(done, loss_sum / done, (done - first) * bs / max(elapsed, 1e-9))
                if "batch" in hooks:
                    hooks["batch"](epoch, done)
                if flag["signal"] and done < n_batches:
                    bar.close()
                    save_checkpoint(
                        checkpoint,
                        checkpoint_obj(
                            epoch, done, {"loss_sum": loss_sum, "seconds": before + elapsed}
                        ),
                    )
                    log.warning(
                        "checkpoint written to %s at epoch %d, batch %d/%d; exiting",
                        checkpoint,
                        epoch + 1,
                        done,
                        n_batches,
                    )
                    return EXIT_CODES[flag["signal"]]
            bar.close()
            train_seconds = time.monotonic() - t0
            rate = (n_batches - first) * bs / max(train_seconds, 1e-9)
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / n_batches}
            if len(vset):
                row.update(validate(model, vset, mean, std, s, dev, bf16, channels_last))
            row["seconds"] = before + time.monotonic() - t0
            rows.append(row)
            scheduler.step()
            save_checkpoint(checkpoint, checkpoint_obj(epoch + 1, 0, None))
            write_metrics(metrics, rows, classes)
            jacc = " ".join(f"{c}:{_fmt(row.get(f'jaccard_{c}'), '.4f') or '-'}" for c in classes)
            log.info(
                "epoch %d/%d loss %.4f%s lr %.3g%s %.1f patches/s %.1f s",
                epoch + 1,
                s["epochs"],
                row["train_loss"],
                f" valid_loss {row['valid_loss']:.4f}" if "valid_loss" in row else "",
                lr,
                f" jaccard {jacc} mean {_fmt(row.get('mean_jaccard'), '.4f') or '-'}"
                if len(vset)
                else "",
                rate,
                row["seconds"],
            )
            if "epoch" in hooks:
                hooks["epoch"](epoch + 1)

    meta = {
        "hparams": s,
        "classes": classes,
        "channels": channel_names,
        "mean": mean,
        "std": std,
        "group": group,
        "variant": variant,
        "epochs_done": len(rows),
        "train_ids": train_ids,
        "valid_ids": valid_ids,
    }
    save_model_file(out, model, meta)
    write_metrics(metrics, rows, classes)
    with suppress(FileNotFoundError):
        Path(checkpoint).unlink()
    log.info("wrote %s and %s after %d epochs", out, metrics, len(rows))
    return 0
