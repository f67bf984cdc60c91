"""``train --procs N``: the N processes of one DDP training on this node, started by the
train step itself (no ``srun``, no ``torchrun``: one job step, whatever the executor).

The launcher (the ``dstl-hpc train`` process) checks what it can before any process
starts (CUDA: N GPUs visible), then spawns rank 0 .. N-1 (``multiprocessing`` spawn: a
fresh interpreter each, so CUDA is never forked). Each rank joins the process group
(NCCL on CUDA, rank r on GPU r; gloo on the CPU) through a file store in a fresh
temporary folder and runs ``train()`` (:mod:`dstl_hpc.train.distributed`).

Signals: SIGTERM and SIGUSR1 the launcher receives are forwarded to every rank (SLURM
also signals every process of the step itself); the ranks agree at the next batch
boundary, rank 0 writes the checkpoint and every rank exits 143 / 138, which the
launcher returns. A rank whose launcher dies gets SIGTERM (``PR_SET_PDEATHSIG``): the
same checkpoint. A rank that fails (a DstlError: its one line is the launcher's
error; a crash) ends the others at once: none can go on without it. Once one rank has
ended normally the others must follow within ``GRACE`` seconds (they pass the same
final barrier), or are killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.train.signals import EXIT_CODES

log = logging.getLogger("dstl_hpc.train")

GRACE = 60.0  # seconds the other ranks get to end once one has ended normally
# The launcher wakes up at least this often: a signal delivered to another of its
# threads (torch's) does not interrupt the main thread's wait, only its next return.
PERIOD = 1.0
NORMAL = (0, *EXIT_CODES.values())  # done, or stopped by a signal with a checkpoint
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def launch(procs: int, cuda: bool, kwargs: dict) -> int:
    """Run ``train(**kwargs)`` on ``procs`` processes; the exit code they agree on.

    ``cuda``: one GPU per process (they must be visible). A DstlError of a rank is
    raised here (the lowest rank's); processes that end otherwise give exit code 1."""
    import multiprocessing as mp

    if cuda:
        import torch

        visible = torch.cuda.device_count()
        if visible < procs:
            raise DstlError(
                f"--procs {procs}: only {visible} GPU(s) visible (CUDA_VISIBLE_DEVICES="
                f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r}); ask the job for {procs} "
                "(train_resources gpu)"
            )
    ctx = mp.get_context("spawn")
    folder = Path(tempfile.mkdtemp(prefix="dstl-ddp-"))
    errors = ctx.SimpleQueue()
    level = logging.getLogger("dstl_hpc").getEffectiveLevel()
    ranks: list = []
    got: dict = {"signal": None}

    def forward(signum, _frame):
        got["signal"] = signum
        for p in ranks:
            if p.exitcode is None and p.pid is not None:
                try:
                    os.kill(p.pid, signum)
                except ProcessLookupError:
                    pass

    old = {sig: signal.signal(sig, forward) for sig in EXIT_CODES}
    try:
        for rank in range(procs):
            args = (rank, procs, str(folder / "store"), cuda, level, kwargs, errors, os.getpid())
            p = ctx.Process(target=run_rank, args=args, name=f"dstl-train-rank{rank}")
            p.start()
            ranks.append(p)
        log.info("started %d training processes (%s)", procs, "nccl" if cuda else "gloo")
        codes = _wait(ranks)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for p in ranks:
            if p.exitcode is None:
                p.kill()
                p.join()
        shutil.rmtree(folder, ignore_errors=True)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    if failures:
        raise DstlError(min(failures)[1])
    if len(set(codes)) == 1 and codes[0] in NORMAL:
        return codes[0]
    if got["signal"]:  # e.g. a time limit while the processes were starting
        return EXIT_CODES[got["signal"]]
    log.error(
        "training processes ended with exit codes %s (by rank; negative: killed by that "
        "signal); resume from the last checkpoint by running the command again",
        codes,
    )
    return 1


def _wait(ranks: list) -> list[int]:
    """Every rank's exit code, in rank order: one that fails ends the others at once;
    once one has ended normally, the others are killed after ``GRACE`` seconds."""
    from multiprocessing.connection import wait

    deadline = None
    while running := [p for p in ranks if p.exitcode is None]:  # one poll per process
        timeout = PERIOD if deadline is None else max(0.0, min(PERIOD, deadline - time.monotonic()))
        wait([p.sentinel for p in running], timeout)
        ended = [p for p in running if p.exitcode is not None]
        if any(p.exitcode not in NORMAL for p in ended):
            deadline = time.monotonic()
        elif ended and deadline is None:
            deadline = time.monotonic() + GRACE
        if deadline is not None and time.monotonic() >= deadline:
            for p in ranks:
                if p.exitcode is None:
                    log.warning("ending training process %s (another one has ended)", p.name)
                    p.kill()
                    p.join()
    return [p.exitcode for p in ranks]


def run_rank(rank, world, store, cuda, level, kwargs, errors, parent) -> None:
    """One rank (a spawned process): join the process group, train, exit with the code."""
    _die_with_parent(parent)
    level = level if rank == 0 else logging.ERROR  # rank 0 logs
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", force=True)
    import torch
    import torch.distributed as dist

    from dstl_hpc.train.distributed import TIMEOUT
    from dstl_hpc.train.driver import train

    if cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group(
        "nccl" if cuda else "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=TIMEOUT,
    )
    try:
        code = train(**kwargs)
    except (DstlError, MemoryError, OSError) as exc:
        errors.put((rank, _message(exc)))
        sys.exit(2)
    dist.destroy_process_group()
    sys.exit(code)


def _message(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory (ask for more, e.g. a larger mem_mb)"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _die_with_parent(parent: int) -> None:
    """Get SIGTERM when the launcher dies (Linux; elsewhere nothing); exit at once when
    it is gone already."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        sys.exit(143)
