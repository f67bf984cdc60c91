"""One epoch of training: batches from the DataLoader, one optimizer step each, until
the epoch ends or a signal asks to stop (at a batch boundary)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import torch

from dstl_hpc.errors import DstlError
from dstl_hpc.train.batches import worker_init
from dstl_hpc.train.data import TrainingData
from dstl_hpc.train.distributed import Ranks
from dstl_hpc.train.losses import dice_bce_loss
from dstl_hpc.train.progress import Progress


@dataclass
class Runtime:
    """Where and how a training runs: device, CPU threads, DataLoader workers, bf16
    autocast and channels_last (both CUDA only); ``ranks``: the processes of a DDP
    training (``dstl_hpc.train.distributed``; one process: rank 0 of 1)."""

    device: torch.device
    threads: int
    workers: int
    bf16: bool
    channels_last: bool
    ranks: Ranks = field(default_factory=Ranks)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


@dataclass
class EpochEnd:
    """How an epoch's loop ended: ``done`` batches of the epoch done (all of them
    unless ``stopped`` by a signal), their summed loss, its seconds of training."""

    done: int
    loss_sum: float
    seconds: float
    stopped: bool


def train_epoch(
    model, optimizer, data: TrainingData, s: dict, run: Runtime, epoch: int, first: int,
    loss_sum: float, flag: dict, hooks: dict, log_every: float, name: str = "training",
) -> EpochEnd:  # fmt: skip
    """Train epoch ``epoch`` (0-based) from batch ``first`` on, ``loss_sum`` the loss of
    the batches before it; stop after a batch when ``flag["signal"]`` is set (on any
    rank of a DDP training: they agree, ``Ranks.agree``, and stop after the same step).
    A loss that is not finite (NaN, infinity) stops the training at once: a DstlError
    naming ``name``, the epoch and the step, before anything (checkpoint, model) is
    written (with several processes the loss is the whole batch's: every rank stops)."""
    n_batches, bs = data.n_batches, s["batch_size"]
    data.dataset.set_epoch(epoch)
    t0 = time.monotonic()
    loader = torch.utils.data.DataLoader(
        data.batches,
        batch_size=None,  # PatchBatches hands out whole batches
        sampler=range(first, n_batches),
        num_workers=run.workers,
        pin_memory=run.cuda,
        worker_init_fn=worker_init if run.workers else None,
        generator=torch.Generator(),  # leaves the global torch RNG alone
    )
    label = f"epoch {epoch + 1}/{s['epochs']}"
    bar = Progress(n_batches, first, label, sys.stderr.isatty() and run.ranks.main, log_every)
    fmt = torch.channels_last if run.channels_last else torch.contiguous_format
    model.train()
    done = first
    for x, y in loader:
        x = x.to(run.device, non_blocking=run.cuda)
        y = y.to(run.device, non_blocking=run.cuda)
        if data.augment is not None:  # (windows, draws) -> (patches, targets)
            x, y = data.augment(x, y)
        x = x.contiguous(memory_format=fmt)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.bf16):
            logits = model(x)
        weight = None
        if data.known:  # the last plane: where labels count
            y, weight = y[:, :-1], y[:, -1:]
        # several processes: the loss of the whole batch (every rank's share), on each
        loss = dice_bce_loss(
            logits.float(), y, s["log_loss"], s["dice_loss"], weight, run.ranks.sum
        )
        loss.backward()
        optimizer.step()
        value = float(loss.detach())  # the step's one synchronisation, as before
        if not math.isfinite(value):
            raise DstlError(
                f"{name}: epoch {epoch + 1}/{s['epochs']}, step {done + 1}/{n_batches}: the "
                f"training loss is {value}; stopped, no model written (diverged: lower lr, "
                "or check the stats and the stacks)"
            )
        loss_sum += value
        done += 1
        elapsed = time.monotonic() - t0
        bar.update(done, loss_sum / done, (done - first) * bs / max(elapsed, 1e-9))
        if "batch" in hooks:
            hooks["batch"](epoch, done)
        if done < n_batches and run.ranks.agree(flag):  # every rank stops after this step
            bar.close()
            return EpochEnd(done, loss_sum, elapsed, stopped=True)
    bar.close()
    return EpochEnd(done, loss_sum, time.monotonic() - t0, stopped=False)
