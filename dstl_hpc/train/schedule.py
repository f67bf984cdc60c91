"""The learning-rate schedule's step at an epoch's end, and the seed's optimizer reset.

The seed's code (lopuhin/kaggle-dstl) divided the learning rate by creating a new
Adam with the lower rate, so each drop also forgot Adam's moment estimates and step
counts. ``optimizer_reset: true`` does the same: when the scheduler's step changes
the learning rate, the optimizer's state is cleared, which leaves it exactly as a new
Adam over the same parameters with the new rate (the next step is Adam's first).
Without it (the default) the moments carry over the drop, as ``MultiStepLR`` alone
does. The checkpoint saves the optimizer's state after this step, so a resumed
training goes on as an uninterrupted one.
"""

from __future__ import annotations

import logging

log = logging.getLogger("dstl_hpc.train")


def step_schedule(optimizer, scheduler, reset: bool, epochs_done: int) -> bool:
    """Step ``scheduler`` after ``epochs_done`` epochs; with ``reset``, a learning rate
    that changed also clears ``optimizer``'s state. True when the state was cleared."""
    before = [group["lr"] for group in optimizer.param_groups]
    scheduler.step()
    after = [group["lr"] for group in optimizer.param_groups]
    if not reset or after == before:
        return False
    optimizer.state.clear()
    log.info(
        "learning rate %.3g -> %.3g after epoch %d: optimizer state reset (optimizer_reset)",
        before[0],
        after[0],
        epochs_done,
    )
    return True
