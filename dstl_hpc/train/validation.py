"""Validation after each epoch: the held-out images predicted whole, as ``predict`` does
(``dstl_hpc.predict.tiled.predict_logits``: one tiling of ``valid_tile`` px tiles, no shift
averaging), scored by pixel Jaccard per class and the training loss."""

from __future__ import annotations

import numpy as np
import torch

from dstl_hpc.errors import DstlError
from dstl_hpc.predict.tiled import predict_logits
from dstl_hpc.train.losses import combine_terms, loss_terms


class ValidSet:
    """Validation images (uint16 kept in memory when ``keep``) and their masks."""

    def __init__(
        self, stack_paths, mask_paths, n_channels, classes, keep: bool, indices=(), known=None
    ):
        """``classes``: the mask planes to read (with ``known``, its plane is the last)."""
        self.stack_paths, self.mask_paths = stack_paths, mask_paths
        self.n_channels, self.classes, self.indices = n_channels, classes, list(indices)
        self.known = known
        self.cache = [self._read(i) for i in range(len(stack_paths))] if keep else None

    def _read(self, i):
        from dstl_hpc.prepare.indices import source_channels, with_indices
        from dstl_hpc.prepare.stacks import read_mask, read_stack

        raw = read_stack(self.stack_paths[i], source_channels(self.n_channels, self.indices))
        img = with_indices(raw, self.n_channels, self.indices)
        msk = read_mask(self.mask_paths[i], self.classes)
        if img.shape[1:] != msk.shape[1:]:
            raise DstlError(
                f"{self.mask_paths[i]}: mask size {msk.shape[1:]} differs from "
                f"{self.stack_paths[i]} {img.shape[1:]}"
            )
        return img, msk

    def __len__(self):
        return len(self.stack_paths)

    def __iter__(self):
        for i in range(len(self)):
            yield self.cache[i] if self.cache is not None else self._read(i)


def validate(model, vset: ValidSet, mean, std, settings, device, bf16, channels_last) -> dict:
    """Pixel Jaccard per class at p > 0.5 (summed over images) and the loss over all pixels."""
    n = len(settings["classes"])
    tp, fp, fn = np.zeros(n), np.zeros(n), np.zeros(n)
    terms = torch.zeros(n, 5, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for img, msk in vset:
            logits = predict_logits(
                model,
                img,
                mean,
                std,
                tile=settings["valid_tile"],
                device=device,
                bf16=bf16,
                channels_last=channels_last,
                batch=4 if device.type == "cuda" else 1,
            )
            weight = None
            if vset.known:  # the last plane: where labels count
                msk, weight = msk[:-1], msk[-1:]
            pred = logits > 0
            truth = msk > 0
            counted = np.ones_like(truth[:1]) if weight is None else weight > 0
            tp += (pred & truth & counted).sum((1, 2))
            fp += (pred & ~truth & counted).sum((1, 2))
            fn += (~pred & truth & counted).sum((1, 2))
            w = None if weight is None else torch.from_numpy(weight.astype(np.float32))
            terms += loss_terms(torch.from_numpy(logits), torch.from_numpy(truth), w).double()
    finally:
        model.train(was_training)
    loss = float(combine_terms(terms, settings["log_loss"], settings["dice_loss"]))
    out: dict = {"valid_loss": loss}
    defined = []
    for k, c in enumerate(settings["classes"]):
        denom = tp[k] + fp[k] + fn[k]
        j = float(tp[k] / denom) if denom > 0 else None
        out[f"jaccard_{c}"] = j
        if j is not None:
            defined.append(j)
    out["mean_jaccard"] = float(np.mean(defined)) if defined else None
    return out
