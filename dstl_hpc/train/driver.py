"""``train()``: set a training up, resume it, run its epochs, write the model file."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from dstl_hpc.config.settings import validate_settings
from dstl_hpc.device import cpu_count, resolve_device
from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.stats import check_stats
from dstl_hpc.train.best import BestStates
from dstl_hpc.train.data import TrainingData, channel_stats, load_stats, training_data
from dstl_hpc.train.distributed import Ranks, ranks_of_process
from dstl_hpc.train.loop import Runtime, train_epoch
from dstl_hpc.train.model import build_model, non_finite, save_model_file
from dstl_hpc.train.progress import log_epoch, write_metrics
from dstl_hpc.train.schedule import step_schedule
from dstl_hpc.train.signals import EXIT_CODES, signal_flag
from dstl_hpc.train.state import Checkpoint, Position, fingerprint
from dstl_hpc.train.validation import validate

log = logging.getLogger("dstl_hpc.train")


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
    select_epochs: dict[int, int] | None = None,
    procs: int = 1,
) -> int:
    """Train (or resume) and write ``out`` and ``metrics``; returns the exit code.

    ``stats`` is the stats JSON path or its dict. ``hooks`` (tests): optional
    callables ``"batch"(epoch, batches_done)`` and ``"epoch"(epochs_done)``.
    ``select_epochs`` (class -> epoch, chosen on a validation run): keep the weights of
    each (``dstl_hpc.train.best``), and train as many epochs as the latest when every
    class has one (a class without one keeps the last weights of all ``epochs``).
    ``procs`` > 1: a DDP training on that many processes of this node, one GPU each on
    CUDA (:mod:`dstl_hpc.train.launch`; ``threads`` are shared among them).
    """
    call = dict(locals())  # the arguments, for the processes of a DDP training
    hooks = hooks or {}
    s = validate_settings(settings)
    if select_epochs and set(select_epochs) >= set(s["classes"]):
        s["epochs"] = max(select_epochs.values())  # else a class keeps the last weights
    if select_epochs:
        log.info(
            "epochs chosen on validation, per class: %s -> %d epochs", select_epochs, s["epochs"]
        )
    elif select_epochs is not None:
        log.info("no class scored above 0 on validation: every class keeps the last weights")
    train_ids, valid_ids = list(train_ids), list(valid_ids or [])
    if not train_ids:
        raise DstlError("no training images given")
    if overlap := sorted(set(train_ids) & set(valid_ids)):
        raise DstlError(f"images both in training and validation: {', '.join(overlap)}")
    stats = check_stats(stats) if isinstance(stats, dict) else load_stats(stats)
    mean, std, channel_names = channel_stats(stats, s["n_channels"], s["indices"])
    if procs > 1:  # this process launches the ranks, each of which runs train() again
        return _launch(procs, s, {k: v for k, v in call.items() if k != "procs"})
    ranks = ranks_of_process()
    run = _runtime(device, threads, s, ranks)
    torch.manual_seed(s["seed"])
    np.random.seed(s["seed"])
    random.seed(s["seed"])
    data = training_data(
        s, stacks_dir, masks_dir, train_ids, valid_ids, mean, std, run.device, *ranks.place
    )
    model = build_model(s, len(mean), len(s["classes"])).to(run.device)  # + index planes
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = ranks.prepare(model)  # BatchNorm over every rank's share
    if ranks.rank:  # each rank its own dropout draws (rank 0: those of one process)
        torch.manual_seed(ranks.seed(s["seed"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=s["lr_decay_epochs"], gamma=1.0 / s["lr_decay_factor"]
    )
    chosen = {**s, "select_epochs": {str(k): e for k, e in (select_epochs or {}).items()}}
    fp = fingerprint(chosen, train_ids, valid_ids, mean, std, group, variant)
    # validation images, or epochs chosen on a validation run (maybe none: {}), give
    # the model file its best epochs (a class without one keeps the last weights)
    keep_best = (valid_ids or select_epochs is not None) and ranks.main  # rank 0 keeps them
    best = BestStates(s["classes"], select_epochs) if keep_best else None
    ckpt = Checkpoint(checkpoint, fp, model, optimizer, scheduler, data.dataset, best, ranks)
    start = ckpt.resume(data.n_batches)
    _log_start(s, variant, group, len(train_ids), len(valid_ids), data, run)
    name = f"group {group} ({variant})"
    net = ranks.wrap(model)  # DDP around the resumed model (several processes)
    epochs = _Epochs(s, run, data, ckpt, net, mean, std, metrics, hooks, log_every, name)
    with signal_flag() as flag:
        for epoch in range(start.epoch, s["epochs"]):
            if ranks.agree(flag) or epochs.train(epoch, start, flag):
                return EXIT_CODES[flag["signal"]]
    if not ranks.main:  # rank 0 writes the files; the others wait until it has
        ranks.barrier()
        return 0

    meta = {
        "hparams": s,
        "classes": s["classes"],
        "channels": channel_names,
        **({"bands": stats["bands"]} if stats.get("bands") else {}),
        "mean": mean,
        "std": std,
        "group": group,
        "variant": variant,
        "epochs_done": len(start.rows),
        "train_ids": train_ids,
        "valid_ids": valid_ids,
        **(best.meta() if best is not None else {}),
    }
    save_model_file(out, model, meta)
    write_metrics(metrics, start.rows, s["classes"])
    ckpt.remove()
    log.info(
        "wrote %s and %s after %d epochs, %d optimizer steps",
        out,
        metrics,
        len(start.rows),
        len(start.rows) * data.n_batches,
    )
    ranks.barrier()
    return 0


def _launch(procs: int, s: dict, call: dict) -> int:
    """A DDP training of ``procs`` processes (``dstl_hpc.train.launch``), checked first."""
    from dstl_hpc.train.launch import launch

    if s["batch_size"] % procs:
        raise DstlError(
            f"--procs {procs}: batch_size {s['batch_size']} does not split into {procs} "
            "equal shares (each process trains an equal share of every batch)"
        )
    cuda = resolve_device(call["device"]).type == "cuda"
    return launch(procs, cuda, call)


@dataclass
class _Epochs:
    """An epoch of a training and what follows it: validation, the learning-rate step,
    the checkpoint, the metrics CSV and the epoch's log line."""

    s: dict
    run: Runtime
    data: TrainingData
    ckpt: Checkpoint
    net: torch.nn.Module  # what trains: the model, or DDP around it
    mean: list[float]
    std: list[float]
    metrics: object  # the metrics CSV's path
    hooks: dict
    log_every: float
    name: str  # "group g (variant)": what a refusal names

    def train(self, epoch: int, start: Position, flag: dict) -> bool:
        """Train epoch ``epoch`` (resuming at ``start`` when it is its epoch) and append
        its metrics row to ``start.rows``; True when a signal stopped it (checkpointed)."""
        s, data, ckpt = self.s, self.data, self.ckpt
        part = start.partial if epoch == start.epoch else None
        first = start.batch if epoch == start.epoch else 0
        before = part["seconds"] if part else 0.0
        lr = ckpt.optimizer.param_groups[0]["lr"]
        args = (epoch, first, part["loss_sum"] if part else 0.0, flag, self.hooks, self.log_every)
        end = train_epoch(self.net, ckpt.optimizer, data, s, self.run, *args, name=self.name)
        if (bad := non_finite(ckpt.model.state_dict())) is not None:  # e.g. BN running_var
            raise DstlError(
                f"{self.name}: epoch {epoch + 1}/{s['epochs']}, step {end.done}/"
                f"{data.n_batches}: {bad} holds NaN or infinity; stopped, no model written "
                "(diverged: lower lr, or check the stats and the stacks)"
            )
        if end.stopped:
            part = {"loss_sum": end.loss_sum, "seconds": before + end.seconds}
            ckpt.save(Position(epoch, end.done, part, start.rows))  # rank 0 writes it
            log.warning(
                "checkpoint written to %s at epoch %d, batch %d/%d; exiting",
                ckpt.path,
                epoch + 1,
                end.done,
                data.n_batches,
            )
            return True
        # steps: the optimizer steps made so far (the summary reports each model's)
        row = {"epoch": epoch + 1, "steps": (epoch + 1) * data.n_batches, "lr": lr}
        row["train_loss"] = end.loss_sum / data.n_batches
        t0 = time.monotonic()
        if len(data.valid):  # several processes: rank 0's (the others have none)
            run = self.run
            scores = validate(
                ckpt.model,
                data.valid,
                self.mean,
                self.std,
                s,
                run.device,
                run.bf16,
                run.channels_last,
            )
            row.update(scores)
        row["seconds"] = before + end.seconds + time.monotonic() - t0
        start.rows.append(row)
        if ckpt.best is not None:
            ckpt.best.after_epoch(epoch + 1, row, ckpt.model)
        step_schedule(ckpt.optimizer, ckpt.scheduler, s["optimizer_reset"], epoch + 1)
        ckpt.save(Position(epoch + 1, 0, None, start.rows))  # the others wait for rank 0
        if self.run.ranks.main:
            write_metrics(self.metrics, start.rows, s["classes"])
            rate = (data.n_batches - first) * s["batch_size"] / max(end.seconds, 1e-9)
            log_epoch(row, s["epochs"], s["classes"], bool(len(data.valid)), rate)
        if "epoch" in self.hooks:
            self.hooks["epoch"](epoch + 1)
        return False


def _runtime(device: str, threads: int | None, s: dict, ranks: Ranks) -> Runtime:
    """The device (``resolve_device``; rank r of a DDP training on CUDA: GPU r), CPU
    threads (set for torch) and DataLoader workers (auto: up to 8 on CUDA, none on the
    CPU) of settings ``s``; the ranks of a DDP training share the threads and CPUs."""
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    if cuda and ranks.world > 1:
        dev = torch.device("cuda", ranks.rank)
    n_threads = max(1, (int(threads) if threads else cpu_count()) // ranks.world)
    torch.set_num_threads(n_threads)
    if cuda:
        torch.backends.cudnn.benchmark = s["cudnn_benchmark"]
    workers = s["num_workers"]
    if workers == "auto":
        workers = min(8, max(0, cpu_count() // ranks.world - 1)) if cuda else 0
    bf16, channels_last = cuda and s["bf16"], cuda and s["channels_last"]
    return Runtime(dev, n_threads, workers, bf16, channels_last, ranks)


def _log_start(s, variant, group, n_train, n_valid, data: TrainingData, run: Runtime) -> None:
    log.info(
        "training %s/%s: classes %s, %d train / %d valid images, %d epochs x %d batches of %d, "
        "device %s, %d threads, %d workers%s, data %s, augmentation on %s",
        variant,
        group,
        s["classes"],
        n_train,
        n_valid,
        s["epochs"],
        data.n_batches,
        s["batch_size"],
        run.device,
        run.threads,
        run.workers,
        f" per process, {run.ranks.world} processes (DDP)" if run.ranks.world > 1 else "",
        "in memory" if data.sampler.in_memory else "from HDF5",
        data.augment_on,
    )
