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
- :mod:`.sampler`: one patch drawn from the stacks and masks, augmented on the CPU
  (or its raw window, for the device path); :mod:`.positions`: where its target may
  lie (``sample_margin``);
- :mod:`.batches`: the patches as torch datasets, per epoch and per batch;
- :mod:`.augment`: the device path's augmentations;
- :mod:`.model`: the UNet and its file; :mod:`.losses`: the training loss;
- :mod:`.state`: the checkpoint (save, resume, RNG states, fingerprint);
- :mod:`.signals`: the SIGTERM / SIGUSR1 flag read at batch boundaries;
- :mod:`.loop`: one epoch's batches and optimizer steps; :mod:`.schedule`: the
  learning-rate step after it (and ``optimizer_reset``);
- :mod:`.validation`: the validation images, predicted as ``predict`` does, scored;
- :mod:`.progress`: the progress bar or log lines, the epoch's line, the metrics CSV;
- :mod:`.launch` (``procs`` > 1): the processes of a DDP training on one node, and
  :mod:`.distributed`: what each of them does as a rank (its share of every batch,
  BatchNorm and the loss over all shares, the agreed stop, rank 0 writes).

Every room logs to the ``dstl_hpc.train`` logger.
"""

import importlib

# The package's names, imported on first use (PEP 562): importing one room (say
# ``dstl_hpc.train.model`` for a predictor) does not import the whole training.
_NAMES = {
    "cpu_count": ("dstl_hpc.device", "cpu_count"),
    "FEW_STEPS": ("dstl_hpc.train.data", "FEW_STEPS"),
    "channel_stats": ("dstl_hpc.train.data", "channel_stats"),
    "epoch_batches": ("dstl_hpc.train.data", "epoch_batches"),
    "image_paths": ("dstl_hpc.train.data", "image_paths"),
    "load_stats": ("dstl_hpc.train.data", "load_stats"),
    "train": ("dstl_hpc.train.driver", "train"),
    "Progress": ("dstl_hpc.train.progress", "Progress"),
    "metrics_columns": ("dstl_hpc.train.progress", "metrics_columns"),
    "write_metrics": ("dstl_hpc.train.progress", "write_metrics"),
    "EXIT_CODES": ("dstl_hpc.train.signals", "EXIT_CODES"),
    "signal_flag": ("dstl_hpc.train.signals", "signal_flag"),
    "CHECKPOINT_FORMAT": ("dstl_hpc.train.state", "CHECKPOINT_FORMAT"),
    "RESUME_FREE": ("dstl_hpc.train.state", "RESUME_FREE"),
    "Checkpoint": ("dstl_hpc.train.state", "Checkpoint"),
    "Position": ("dstl_hpc.train.state", "Position"),
    "fingerprint": ("dstl_hpc.train.state", "fingerprint"),
    "load_checkpoint": ("dstl_hpc.train.state", "load_checkpoint"),
    "save_checkpoint": ("dstl_hpc.train.state", "save_checkpoint"),
    "ValidSet": ("dstl_hpc.train.validation", "ValidSet"),
    "validate": ("dstl_hpc.train.validation", "validate"),
}


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _NAMES[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "CHECKPOINT_FORMAT",
    "EXIT_CODES",
    "FEW_STEPS",
    "RESUME_FREE",
    "Checkpoint",
    "Position",
    "Progress",
    "ValidSet",
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
