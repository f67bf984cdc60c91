"""Predicting stack files: one model (or predictor) file loaded once, each stack's model
input read (with its scene neighbours' context under ``mosaic``), predicted by every
member through the tiler (``dstl_hpc.predict.tiled``), combined, and written as a uint8
prediction HDF5."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import torch

from dstl_hpc.device import resolve_device
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.model_input import ModelInput
from dstl_hpc.predict.options import options_from_meta
from dstl_hpc.predict.tiled import clear_edges, predict_probabilities

log = logging.getLogger(__name__)


def to_uint8(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 0..255 (rounded)."""
    return np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)


def predict_files(
    model_path,
    pairs,
    device: str = "auto",
    threads: int | None = None,
    context_dirs=(),
    **overrides,
) -> list[dict]:
    """Predict several (stack, out) pairs with one model (or predictor) file, loaded once.
    ``context_dirs``: where the images' scene neighbours' stacks are (with ``mosaic``)."""
    from dstl_hpc.predict.predictor import load_predictor

    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    members, meta = load_predictor(model_path, dev)
    batch = overrides.pop("batch", None)
    opt = options_from_meta(meta, **overrides)
    # Default batch: on CUDA about 4 Mpx of output per forward; on the CPU one tile.
    opt.batch = batch or (
        max(1, (2048 * 2048) // (opt.tile * opt.tile)) if dev.type == "cuda" else 1
    )
    if opt.batch < 1:
        raise DstlError("--batch must be >= 1")
    inputs = ModelInput.of(meta)
    return [
        _predict_one(members, meta, opt, dev, inputs, stack, out, context_dirs)
        for stack, out in pairs
    ]


def _context_reader(inputs: ModelInput, context_dirs):
    """``read_strip(image_id, rows, cols)`` of dstl_hpc.predict.mosaic.with_context: the model's
    input planes of a neighbour's stack found in ``context_dirs``, or None."""
    from pathlib import Path

    dirs = [Path(d) for d in context_dirs]

    def read_strip(image_id: str, rows, cols):
        for d in dirs:
            path = d / f"{image_id}.h5"
            if path.exists():
                return inputs.read(path, rows, cols)
        return None

    return read_strip


def _predict_one(members, meta, opt, dev, inputs, stack_path, out_path, context_dirs) -> dict:
    from dstl_hpc.predict.mosaic import with_context
    from dstl_hpc.predict.predictor import combine_members
    from dstl_hpc.prepare.stacks import stack_info, write_prediction

    info = stack_info(stack_path)
    inputs.check(stack_path, info)
    image = inputs.read(stack_path)
    h, w = image.shape[1:]
    margin = 0
    if opt.mosaic:  # the context a training patch had, from the neighbours
        margin = int(opt.patch_inner) + int(getattr(members[0][0], "border", 0))
        image = with_context(image, info["image_id"], _context_reader(inputs, context_dirs), margin)
    t0 = time.perf_counter()
    whole = replace(opt, edge_margin=0)
    probs = [(_member_probabilities(net, image, meta, whole, dev), idx) for net, idx in members]
    del image
    classes = [int(c) for c in meta["classes"]]
    prob = combine_members(probs, len(classes), opt.combine)
    prob = prob[:, margin : margin + h, margin : margin + w]
    clear_edges(prob, opt.edge_margin)
    seconds = time.perf_counter() - t0
    write_prediction(out_path, to_uint8(prob), info["image_id"], classes, meta.get("group", ""))
    log.info(
        "%s: %d x %d px, classes %s, %d member(s), %d pass(es)%s, %.1f s (%.2f Mpx/s) on %s",
        info["image_id"],
        h,
        w,
        classes,
        len(members),
        len(opt.offsets) ** 2,
        f", {margin} px of scene context" if margin else "",
        seconds,
        h * w / 1e6 / max(seconds, 1e-9),
        dev,
    )
    return {"image_id": info["image_id"], "seconds": seconds, "shape": (h, w), "device": str(dev)}


def _member_probabilities(net, image, meta, opt, dev) -> np.ndarray:
    """One member's probabilities: a UNet's tiled prediction, or an index model's."""
    from dstl_hpc.predict.predictor import IndexModel

    if isinstance(net, IndexModel):
        return net.probabilities(image, len(meta["classes"]))
    return predict_probabilities(net, image, meta["mean"], meta["std"], opt, dev)
