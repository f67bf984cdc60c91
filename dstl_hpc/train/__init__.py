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

The rooms, in the order a training goes through them:

- :mod:`.driver`: ``train()``, setup then the epochs, and what follows each epoch;
- :mod:`.data`: the stats, the stack and mask files, the patches and batches;
- :mod:`.state`: the checkpoint (save, resume, RNG states, fingerprint);
- :mod:`.signals`: the SIGTERM / SIGUSR1 flag read at batch boundaries;
- :mod:`.loop`: one epoch's batches and optimizer steps;
- :mod:`.validation`: the validation images, predicted as ``predict`` does, scored;
- :mod:`.progress`: the progress bar or log lines, the epoch's line, the metrics CSV.

Every room logs to the ``dstl_hpc.train`` logger.
"""

from dstl_hpc.device import cpu_count
from dstl_hpc.train.data import FEW_STEPS, channel_stats, epoch_batches, image_paths, load_stats
from dstl_hpc.train.driver import train
from dstl_hpc.train.progress import Progress, metrics_columns, write_metrics
from dstl_hpc.train.signals import EXIT_CODES, signal_flag
from dstl_hpc.train.state import (
    CHECKPOINT_FORMAT,
    RESUME_FREE,
    Checkpoint,
    Position,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from dstl_hpc.train.validation import ValidSet, validate

# the names of the former train.py
_paths = image_paths
_Progress = Progress

__all__ = [
    "CHECKPOINT_FORMAT",
    "EXIT_CODES",
    "FEW_STEPS",
    "RESUME_FREE",
    "Checkpoint",
    "Position",
    "Progress",
    "ValidSet",
    "_Progress",
    "_paths",
    "channel_stats",
    "cpu_count",
    "epoch_batches",
    "fingerprint",
    "image_paths",
    "load_checkpoint",
    "load_stats",
    "metrics_columns",
    "save_checkpoint",
    "signal_flag",
    "train",
    "validate",
    "write_metrics",
]
