"""The processes of one training, as the training sees them: ``Ranks``.

One process (``train --procs 1``, the default) is rank 0 of 1 and every method is a
no-op. With ``--procs N`` (:mod:`dstl_hpc.train.launch` starts the processes and sets
up ``torch.distributed``: NCCL on CUDA, one GPU a process; gloo on the CPU) each
process is a rank of a DistributedDataParallel (DDP) training:

* each rank trains on its equal share of every batch (``PatchBatches``: contiguous
  rows, so the shares of a step together are the one-process batch of that step);
* BatchNorm computes its batch statistics over the shares of every rank together
  (``torch.nn.SyncBatchNorm`` on CUDA, ``RankBatchNorm2d`` on the CPU), and the loss's
  sums (BCE, dice terms) are summed over the ranks before the loss is formed
  (``Ranks.sum``, differentiable): the forward pass and the gradient are those of the
  one-process batch, up to the order of floating-point sums;
* a SIGTERM / SIGUSR1 flag is agreed at every batch boundary (``Ranks.agree``: the
  largest signal number of any rank), so every rank stops after the same step;
* rank 0 validates, keeps the best epochs, writes the checkpoint (with every rank's
  RNG states, ``Ranks.gather``), the metrics CSV and the model file, and logs; the
  other ranks wait (``Ranks.barrier``).
"""

from __future__ import annotations

import datetime

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

# How long a rank waits at a collective (rank 0 validating or writing a checkpoint, a
# slow rank loading its stacks) before it gives up.
TIMEOUT = datetime.timedelta(hours=3)


class _SumRanks(torch.autograd.Function):
    """A tensor summed over the ranks; its gradient is summed over the ranks too (each
    rank's loss is the same total: DDP's mean of the ranks' gradients is then the
    gradient of that total)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class RankBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the ranks' shares together
    (``torch.nn.SyncBatchNorm`` needs CUDA): mean and variance from sums accumulated in
    float64 and summed over the ranks; the running statistics updated as BatchNorm2d
    does (unbiased variance). Evaluation uses the running statistics, as BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        self._check_input_dim(x)
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
        local = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float64, device=x.device)
        sums = _SumRanks.apply(torch.cat([x.sum(dims, dtype=torch.float64), local]))
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = x - mean.to(x.dtype).view(shape)
        var = _SumRanks.apply(centred.pow(2).sum(dims, dtype=torch.float64)) / count
        scale = torch.rsqrt(var + self.eps).to(x.dtype)
        if self.affine:
            out = centred * (scale * self.weight).view(shape) + self.bias.view(shape)
        else:
            out = centred * scale.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum
                if m is None:  # cumulative average, as BatchNorm2d
                    m = 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(mean.to(x.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(x.dtype), alpha=m)
        return out


def rank_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm2d replaced by a ``RankBatchNorm2d`` holding the
    same parameters and buffers (so an optimizer made before still steps them)."""
    if type(module) is nn.BatchNorm2d:
        out = RankBatchNorm2d(
            module.num_features, module.eps, module.momentum, module.affine,
            module.track_running_stats, device=module.running_mean.device,
        )  # fmt: skip
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        return out
    for name, child in module.named_children():
        module.add_module(name, rank_batchnorm(child))
    return module


class Ranks:
    """One process: rank 0 of 1. Every collective is a no-op."""

    rank, world = 0, 1

    @property
    def main(self) -> bool:
        """Whether this process validates, writes the files and logs (rank 0)."""
        return self.rank == 0

    @property
    def place(self) -> tuple[int, int]:
        """(rank, world)."""
        return self.rank, self.world

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` summed over the ranks, differentiable (the loss's sums)."""
        return x

    def agree(self, flag: dict):
        """The signal every rank stops on (set in ``flag``): here this process's own."""
        return flag["signal"]

    def barrier(self) -> None:
        """Wait for every rank (while rank 0 validates or writes)."""

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` on rank 0 (in rank order), None on the others."""
        return [obj]

    def seed(self, seed: int) -> int:
        """This rank's seed for its own draws (dropout): ``seed`` on rank 0."""
        return seed

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` with BatchNorm over every rank's share (before its optimizer)."""
        return model

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train: DDP around ``model``, or ``model`` itself."""
        return model


class DdpRanks(Ranks):
    """A rank of the ``torch.distributed`` process group set up by
    :mod:`dstl_hpc.train.launch`."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.nccl = dist.get_backend() == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if self.nccl else None

    def sum(self, x):
        return _SumRanks.apply(x)

    def agree(self, flag):
        mine = torch.tensor([int(flag["signal"] or 0)], device=self.device)
        dist.all_reduce(mine, op=dist.ReduceOp.MAX)
        flag["signal"] = int(mine.item()) or None
        return flag["signal"]

    def barrier(self):
        dist.barrier(device_ids=[self.device.index] if self.nccl else None)

    def gather(self, obj):
        out = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def seed(self, seed):
        if not self.rank:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0])

    def prepare(self, model):
        if self.nccl:
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return rank_batchnorm(model)

    def wrap(self, model):
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device.index] if self.nccl else None)


def ranks_of_process() -> Ranks:
    """This process's ranks: ``DdpRanks`` inside a launched training, else ``Ranks``."""
    return DdpRanks() if dist.is_available() and dist.is_initialized() else Ranks()
