"""What a training reads: the stats, the stack and mask files of its ids, and the
patches of each epoch (``dstl_hpc.train.sampler``), batched for the DataLoader."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.h5_contract import check_image_id
from dstl_hpc.prepare.stacks import known_plane
from dstl_hpc.prepare.stats import read_stats
from dstl_hpc.sources.dstl import CHANNELS
from dstl_hpc.train.augment import DeviceAugment, resolve_augment_on
from dstl_hpc.train.batches import CropBatches, PatchBatches, PatchDataset
from dstl_hpc.train.sampler import PatchSampler
from dstl_hpc.train.validation import ValidSet

log = logging.getLogger("dstl_hpc.train")

# Fewer gradient steps than this in a whole training are warned about: on real
# imagery ~20 steps scored 0.28 where 10x more scored 0.43 (the demo makes ~60).
FEW_STEPS = 500


def load_stats(path) -> dict:
    """The stats JSON, checked (``dstl_hpc.prepare.stats.read_stats``): {"channels": [20],
    "mean": [20], "std": [20], "images": [...]}."""
    return read_stats(path)


def channel_stats(stats, n_channels: int, indices=()) -> tuple[list[float], list[float], list[str]]:
    """(mean, std, names) of the model's input planes: the first ``n_channels`` channels
    of the stats (a stats JSON path or its dict), then the index channels ``indices``."""
    stats = stats if isinstance(stats, dict) else load_stats(stats)
    if len(stats["mean"]) < n_channels:
        raise DstlError(f"stats: {len(stats['mean'])} channels, n_channels is {n_channels}")
    names = list(stats.get("channels", CHANNELS))
    missing = [k for k in indices if k not in names]
    if missing:
        raise DstlError(
            f"stats: no {', '.join(missing)} (a stats.json written before index channels: "
            "run `dstl-hpc stats` again)"
        )
    rows = list(range(n_channels)) + [names.index(k) for k in indices]
    mean = [float(stats["mean"][r]) for r in rows]
    std = [float(stats["std"][r]) for r in rows]
    return mean, std, names[:n_channels] + list(indices)


def image_paths(directories, ids, what: str) -> list[Path]:
    """``{id}.h5`` of each id, from the first of ``directories`` (one or a list) holding it."""
    dirs = (
        [Path(directories)] if isinstance(directories, str | Path) else list(map(Path, directories))
    )
    paths = []
    for i in ids:
        found = [d / f"{i}.h5" for d in dirs if (d / f"{i}.h5").exists()]
        if not found:
            where = ", ".join(str(d) for d in dirs)
            raise DstlError(f"{dirs[0] / f'{i}.h5'}: {what} file not found (looked in {where})")
        check_image_id(found[0], i)
        paths.append(found[0])
    return paths


def epoch_batches(settings: dict, area: int) -> int:
    """Batches per epoch, >= one: ``patches_per_epoch`` patches when set (the seed's
    code: a fixed count whatever the number of images), else ``epoch_fraction`` of the
    training area in patch_inner^2 patches; raised so that the training makes at least
    ``min_steps`` optimizer steps in all."""
    patches = settings["patches_per_epoch"]
    if patches is None:
        patches = settings["epoch_fraction"] * area / settings["patch_inner"] ** 2
    batches = max(1, round(patches / settings["batch_size"]))
    floor = -(-int(settings.get("min_steps") or 0) // int(settings["epochs"]))
    return max(batches, floor)


@dataclass
class TrainingData:
    """The training patches and the validation set of one training.

    ``batches`` (``PatchBatches``, or ``CropBatches`` with ``augment`` set when the
    device augments) hands out batch ``b`` of the epoch set on ``dataset``."""

    sampler: PatchSampler
    dataset: PatchDataset
    batches: PatchBatches
    augment: DeviceAugment | None
    augment_on: str
    n_batches: int
    valid: ValidSet
    known: int | None = None  # the masks' known plane: the targets' last plane weighs the loss


def training_data(
    s: dict, stacks_dir, masks_dir, train_ids, valid_ids, mean, std, device, rank=0, world=1
):
    """The ``TrainingData`` of settings ``s``; warns when the training makes few steps.
    Rank ``rank`` of ``world`` processes (DDP) gets its share of every batch, and the
    validation images only on rank 0 (which validates)."""
    classes, nc = s["classes"], s["n_channels"]
    train_stacks = image_paths(stacks_dir, train_ids, "stack")
    train_masks = image_paths(masks_dir, train_ids, "mask")
    valid_stacks = image_paths(stacks_dir, valid_ids, "stack")
    valid_masks = image_paths(masks_dir, valid_ids, "mask")
    known = known_plane(train_masks[0])  # geo: where labels count (the loss's weight)
    sampler = PatchSampler(
        train_stacks, train_masks, classes, mean, std, s, s["in_memory"], known, copies=world
    )
    n_batches = epoch_batches(s, sampler.area)
    bs = s["batch_size"]
    steps = n_batches * s["epochs"]
    if steps < FEW_STEPS:
        log.warning(
            "only %d gradient steps (%d epochs x %d batches of %d): too few to learn real "
            "imagery; raise patches_per_epoch (the seed: 70912 patches per epoch)",
            steps,
            s["epochs"],
            n_batches,
            bs,
        )
    dataset = PatchDataset(sampler, n_batches * bs, s["seed"])
    augment_on = resolve_augment_on(s["augment_on"], device)
    # device: the DataLoader crops, the device rotates / flips / jitters whole batches
    augment = DeviceAugment(sampler, device) if augment_on == "device" else None
    batches = (PatchBatches if augment is None else CropBatches)(dataset, bs, rank, world)
    if rank:  # rank 0 validates
        valid_stacks = valid_masks = []
    valid = ValidSet(
        valid_stacks, valid_masks, nc, sampler.classes, sampler.in_memory, s["indices"], known
    )
    return TrainingData(sampler, dataset, batches, augment, augment_on, n_batches, valid, known)
