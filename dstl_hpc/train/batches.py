"""The patches of ``PatchSampler`` as torch datasets: per epoch and per batch.

``PatchDataset`` hands out ``length`` patches an epoch, item ``i`` of epoch ``e``
seeded by (seed, e, i) (see :mod:`dstl_hpc.train.sampler`); ``PatchBatches`` groups
them into whole batches written into reused buffers; ``CropBatches`` does the same
for the device path's raw windows and their draws. ``worker_init`` sets up the
DataLoader workers.

Several processes (DDP, :mod:`dstl_hpc.train.distributed`): process ``rank`` of
``world`` hands out its share of every batch, the contiguous rows ``rank * share`` ..
``(rank + 1) * share - 1`` (``share = size / world``), so the ranks' shares of a step,
in rank order, are the one-process batch of that step.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from dstl_hpc.train.sampler import PatchSampler


class PatchDataset(torch.utils.data.Dataset):
    """``length`` patches per epoch; item ``i`` of epoch ``e`` is seeded by (seed, e, i)."""

    def __init__(self, sampler: PatchSampler, length: int, seed: int):
        self.sampler, self.length, self.seed = sampler, int(length), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "length": self.length}

    def __len__(self) -> int:
        return self.length

    def rng(self, i: int) -> np.random.Generator:
        """The generator of item ``i`` of the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(i)])

    def __getitem__(self, i: int):
        x, y = self.sampler.sample(self.rng(i))
        return torch.from_numpy(x), torch.from_numpy(y)


class PatchBatches(torch.utils.data.Dataset):
    """Whole batches of a ``PatchDataset``: item ``b`` holds its patches ``b * size`` ..
    ``(b + 1) * size - 1`` (the same patches, seeded the same way), written into buffers
    allocated once per process. torch's default collate stacks every batch into a fresh
    tensor (~270 us a patch, mostly page faults on ~56 MB); reusing the buffers halves
    the CPU cost of a batch. Use with ``DataLoader(batch_size=None)``: a batch handed
    out is overwritten by the next one of the same process, so the training step must
    be done with it (it is: the loop fetches the next batch after the step). DataLoader
    workers allocate every batch anew: what they send is shared, not copied."""

    def __init__(self, patches: PatchDataset, size: int, rank: int = 0, world: int = 1):
        """Batches of ``size`` patches; with ``world`` processes, ``rank``'s share of each."""
        if size % world:
            raise ValueError(f"a batch of {size} does not split into {world} equal shares")
        self.patches, self.size = patches, int(size)
        self.share = self.size // world  # rows of a batch this process hands out
        self.offset = rank * self.share  # its first row
        self._x = self._y = None

    def __len__(self) -> int:
        return len(self.patches) // self.size

    def index(self, b: int, j: int) -> int:
        """The patch of row ``j`` of this process's share of batch ``b``."""
        return b * self.size + self.offset + j

    def __getstate__(self):  # workers allocate their own buffers
        return {**self.__dict__, "_x": None, "_y": None}

    def __getitem__(self, b: int):
        # A DataLoader worker sends its batch as shared memory that the main process
        # keeps using (prefetching): a worker must never overwrite it, so it
        # allocates each batch (as the default collate does); only the main process
        # reuses its buffers.
        fresh = torch.utils.data.get_worker_info() is not None
        for j in range(self.share):
            x, y = self.patches[self.index(b, j)]
            if self._x is None or (fresh and j == 0):
                self._x = torch.empty((self.share, *x.shape), dtype=x.dtype)
                self._y = torch.empty((self.share, *y.shape), dtype=y.dtype)
            self._x[j].copy_(x)
            self._y[j].copy_(y)
        return self._x, self._y


class CropBatches(PatchBatches):
    """The device path's batches (``augment_on: device``): item ``b`` holds the raw
    windows of the patches of ``PatchBatches`` item ``b`` (the same draws) as uint16
    (B, window_side, window_side, C + n) and their draws as float64 (B, n_draws), for
    ``DeviceAugment``. Buffers
    are reused in the main process and allocated per batch in workers, as in
    ``PatchBatches``; windows are copied straight into the batch buffer."""

    def __getitem__(self, b: int):
        sampler = self.patches.sampler
        if self._x is None or torch.utils.data.get_worker_info() is not None:
            ws, planes = sampler.window_side, sampler.n_channels + len(sampler.classes)
            self._x = torch.empty((self.share, ws, ws, planes), dtype=torch.uint16)
            self._y = torch.empty((self.share, sampler.n_draws), dtype=torch.float64)
        windows = self._x.numpy()
        draws = self._y.numpy()
        for j in range(self.share):
            draws[j] = sampler.crop(self.patches.rng(self.index(b, j)), windows[j])
        return self._x, self._y


def worker_init(_worker_id: int) -> None:
    """DataLoader workers leave SIGTERM / SIGUSR1 / SIGINT to the main process."""
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    torch.set_num_threads(1)
