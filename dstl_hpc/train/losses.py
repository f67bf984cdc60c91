"""The reference loss: BCE + dice per class over the whole batch, summed over classes.

For each class c, with p = sigmoid(logits) and y the (possibly soft) target, over
every pixel of every patch of the batch::

    L_c = log_loss * mean(BCE(p, y)) + dice_loss * (1 - sum(p * y) / (sum(p) + sum(y)))

(no factor 2, no smoothing; the dice term is skipped when its denominator is 0),
and ``L = sum_c L_c / (log_loss + dice_loss)``. BCE is computed from the logits
(``binary_cross_entropy_with_logits``) for numerical stability, in float32.

``loss_terms`` / ``combine_terms`` split that into sums that can be accumulated over
many tensors (validation computes the same loss over whole images). ``weight`` (geo
data: the ``known`` plane, (N, 1, H, W) in [0, 1]) weighs every sum per pixel, so
pixels whose labels are unknown or that hold no data count for nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def loss_terms(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """(n_classes, 5) float32 sums per class: BCE sum, pixel count, sum(p*y), sum(p), sum(y).

    ``logits`` and ``target`` are (N, n_classes, H, W) (or (n_classes, H, W)); ``weight``
    (N, 1, H, W) (or (1, H, W)) or None (every pixel counts 1).
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    if logits.ndim == 3:
        logits, target = logits[None], target[None]
        weight = None if weight is None else weight[None]
    logits = logits.float()
    target = target.float()
    dims = (0, 2, 3)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    if weight is None:
        count = torch.full_like(
            bce[0, :, 0, 0], logits.shape[0] * logits.shape[2] * logits.shape[3]
        )
        sums = [bce.sum(dims), count, (p * target).sum(dims), p.sum(dims), target.sum(dims)]
    else:
        w = weight.float().expand_as(p)
        sums = [(bce * w).sum(dims), w.sum(dims), (p * target * w).sum(dims), (p * w).sum(dims),
                (target * w).sum(dims)]  # fmt: skip
    return torch.stack(sums, 1)


def combine_terms(terms: torch.Tensor, log_loss: float = 1.0, dice_loss: float = 10.0):
    """The loss (a scalar tensor) from ``loss_terms`` sums."""
    bce_sum, count, inter, psum, ysum = terms.unbind(1)
    bce = bce_sum / count.clamp_min(1)
    denom = psum + ysum
    ratio = torch.where(denom > 0, inter / torch.where(denom > 0, denom, 1), 0)
    dice = torch.where(denom > 0, 1 - ratio, 0)
    per_class = log_loss * bce + dice_loss * dice
    return per_class.sum() / (log_loss + dice_loss)


def dice_bce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    log_loss: float = 1.0,
    dice_loss: float = 10.0,
    weight: torch.Tensor | None = None,
    total=None,
) -> torch.Tensor:
    """The training loss of one batch (scalar, float32). ``total`` (a DDP training: the
    sum over the ranks, ``dstl_hpc.train.distributed``) turns this process's sums into
    those of the whole batch before the loss is formed."""
    terms = loss_terms(logits, target, weight)
    return combine_terms(terms if total is None else total(terms), log_loss, dice_loss)
