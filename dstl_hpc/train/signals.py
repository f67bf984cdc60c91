"""SIGTERM and SIGUSR1 during training: a flag the loop reads at batch boundaries.

A SLURM job that is cancelled, or reaches its time limit, gets SIGTERM (a
``--signal=USR1@...`` sbatch option sends SIGUSR1 before that): the handler only
records the signal; the loop checkpoints at the next batch boundary and the run exits
with ``EXIT_CODES[signal]``.
"""

from __future__ import annotations

import logging
import signal
from contextlib import contextmanager

log = logging.getLogger("dstl_hpc.train")

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGUSR1: 138}


@contextmanager
def signal_flag():
    """Yield a dict whose 'signal' is set by SIGTERM / SIGUSR1; the handlers that were
    installed before are restored on the way out. Outside the main thread no handler
    can be installed: the flag then stays None."""
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
