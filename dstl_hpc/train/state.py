"""The checkpoint: everything a stopped training needs to go on as if it had not stopped.

A checkpoint (torch.save of a dict, ``format`` 1) holds the model, optimizer and
scheduler states, the torch / numpy / python (and CUDA) RNG states, the position
(``epoch`` epochs done, ``batch`` batches of the next one done, and that epoch's
``partial`` loss sum and seconds), the metrics ``rows`` so far, the sampler's state
and the ``fingerprint`` of what the result depends on. A checkpoint of another
fingerprint (other settings, classes, ids, stats, group or variant) is ignored with
a warning; the settings in ``RESUME_FREE`` do not change the result and may differ.

A DDP training (``train --procs N``, :mod:`dstl_hpc.train.distributed`) writes the
same checkpoint from rank 0, with ``world_size`` N and ``rank_rng`` the RNG states of
ranks 1 .. N-1 (``rng`` is rank 0's; one process: ``world_size`` 1, ``rank_rng`` []).
Every rank resumes from it; a checkpoint of another number of processes is refused
(its ranks' RNG states, hence their dropout draws, have no counterpart).
"""

from __future__ import annotations

import json
import logging
import random
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dstl_hpc.config.settings import PREDICT_KEYS
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.train.distributed import Ranks
from dstl_hpc.train.model import save_atomic

log = logging.getLogger("dstl_hpc.train")

CHECKPOINT_FORMAT = 1
# Settings that may differ between an interrupted run and its resumption: they do not
# change the trained weights.
RESUME_FREE = ("epochs", "num_workers", "in_memory", "valid_tile", "cudnn_benchmark", *PREDICT_KEYS)


def fingerprint(settings, train_ids, valid_ids, mean, std, group, variant) -> str:
    """What the trained weights depend on, as a JSON string (settings but RESUME_FREE)."""
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


def rng_state() -> dict:
    """The torch, numpy and python (and, once initialised, CUDA) RNG states."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` returned (also after a round trip through torch.load)."""
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
    """The checkpoint dict; None (with a warning when there is a file) if there is none
    of ours: no file, an unreadable one or another format."""
    path = Path(path)
    if not path.exists():
        return None
    check_regular(path)  # a FIFO would block the load forever
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        log.warning("checkpoint %s is unreadable (%s): starting afresh", path, exc)
        return None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        log.warning("checkpoint %s has an unknown format: starting afresh", path)
        return None
    return obj


@dataclass
class Position:
    """Where a training stands: ``epoch`` epochs done, ``batch`` batches of the next
    one, that epoch's ``partial`` {"loss_sum", "seconds"} (None at an epoch's start)
    and the metrics rows of the epochs done."""

    epoch: int = 0
    batch: int = 0
    partial: dict | None = None
    rows: list[dict] = field(default_factory=list)


class Checkpoint:
    """The checkpoint file of one training, and the live objects it saves and restores
    (model, optimizer, scheduler; ``dataset``: a ``PatchDataset``; ``ranks``: the
    processes of a DDP training, ``dstl_hpc.train.distributed``)."""

    def __init__(
        self, path, fingerprint: str, model, optimizer, scheduler, dataset, best=None,
        ranks: Ranks | None = None,
    ):  # fmt: skip
        self.path, self.fingerprint = path, fingerprint
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.dataset = dataset
        self.best = best  # a BestStates (dstl_hpc.train.best), or None
        self.ranks = ranks or Ranks()

    def save(self, position: Position) -> None:
        """Write the checkpoint (every rank calls this: rank 0 writes every rank's RNG
        states, the others wait until it has written)."""
        rngs = self.ranks.gather(rng_state())
        if self.ranks.main:
            save_checkpoint(
                self.path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": self.fingerprint,
                    "epoch": position.epoch,
                    "batch": position.batch,
                    "partial": position.partial,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rngs[0],
                    "world_size": len(rngs),
                    "rank_rng": rngs[1:],
                    "sampler": self.dataset.state(),
                    "rows": position.rows,
                    "best": self.best.state() if self.best is not None else None,
                },
            )
        self.ranks.barrier()

    def resume(self, n_batches: int) -> Position:
        """Restore the states from the file when it is this training's, and return its
        position; else (no file, or another training's) the start."""
        ckpt = load_checkpoint(self.path)
        if ckpt is not None and ckpt.get("fingerprint") != self.fingerprint:
            log.warning(
                "checkpoint %s was made with other settings, classes, ids or stats: "
                "ignoring it and training from scratch",
                self.path,
            )
            ckpt = None
        if ckpt is None:
            return Position()
        world, rank = int(ckpt.get("world_size", 1)), self.ranks.rank
        if world != self.ranks.world:
            raise DstlError(
                f"{self.path}: a checkpoint of a training on {world} process(es), this one "
                f"runs {self.ranks.world} (train --procs, the GPUs of the job): resume with "
                f"{world}, or delete the checkpoint to train afresh"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"] if rank == 0 else ckpt["rank_rng"][rank - 1])
        if self.best is not None:
            self.best.load(ckpt.get("best"))
        pos = Position(int(ckpt["epoch"]), int(ckpt["batch"]), ckpt.get("partial"))
        pos.rows = list(ckpt["rows"])
        log.info(
            "resuming from checkpoint %s: %d epoch(s) done%s",
            self.path,
            pos.epoch,
            f", epoch {pos.epoch + 1} at batch {pos.batch}/{n_batches}" if pos.batch else "",
        )
        return pos

    def remove(self) -> None:
        with suppress(FileNotFoundError):
            Path(self.path).unlink()
