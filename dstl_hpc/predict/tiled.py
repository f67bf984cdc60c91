"""Whole-image prediction: fully convolutional tiles, mirror padding, shift averaging.

An image is cut into output tiles of about ``tile`` px (each axis balanced so the
tiles just cover it, and rounded so that the input side ``tile + 2 * border`` is a
multiple of the UNet's divisor: 16, or 32 with top_scale 4). A tile's input is its
output square plus ``border`` px of context on each side, taken from the image with
mirror (reflect-101, like ``cv2.BORDER_REFLECT_101``) indices where it leaves the
image; tiles of one tiling never overlap, so every pixel is predicted once per
tiling. With shift averaging the whole tiling is shifted by ``(i * s, j * s)``,
``s = patch_inner / shift_steps``, for ``i, j < shift_steps`` (3 -> 9 passes;
``dstl_hpc.predict.tiles.shift_offsets``), and the sigmoid probabilities are averaged
per pixel. This is the reference's 96 px
window sliding with step 64 (or 64 / 3) when ``tile == patch_inner``, but with large
tiles the network runs on far fewer, larger inputs. ``tiled_mean`` is this tiler;
validation after each training epoch uses it too (``predict_logits``: one tiling of
``valid_tile`` px tiles, logits), so it scores what ``predict`` gives without shifts. Tile
sizes and mirror indices are ``dstl_hpc.predict.tiles``. What to predict with comes from
the predictor file's ``PredictSettings`` (``dstl_hpc.predict.settings``) and the
model's training settings (patch_inner, bf16, channels_last): ``PredictOptions``
(``dstl_hpc.predict.options``). Whole stack files are predicted by
``dstl_hpc.predict.files``.

Memory stays bounded: on the CPU the raw uint16 image is kept and each tile is
gathered and normalised on its own; on CUDA the normalised image lives on the GPU
(bf16 under autocast) and tiles are sliced there. The accumulator is
(n_classes, H, W) float32. bf16 autocast is used on CUDA only, unless
``bf16_cpu`` asks for it on the CPU too (a switch for benchmarks).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from dstl_hpc.predict.options import PredictOptions
from dstl_hpc.predict.tiles import axis_tiles, reflect_indices

log = logging.getLogger(__name__)


@torch.inference_mode()
def predict_probabilities(
    model,
    image: np.ndarray,
    mean,
    std,
    options: PredictOptions | None = None,
    device: torch.device | str = "cpu",
    passes: list[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Probabilities (n_classes, H, W) float32 in [0, 1] of a raw (C >= n_in, H, W) image.

    ``model`` must be in eval mode (``load_model_file`` returns it so); it maps an
    input of side S to logits of side ``S - 2 * model.border``. ``passes`` (for tests)
    runs only these (oy, ox) shifted tilings of the options' grid and averages them.
    """
    opt = options or PredictOptions()
    acc = tiled_mean(model, image, mean, std, opt, torch.device(device), passes, torch.sigmoid)
    out = acc.cpu().numpy()
    clear_edges(out, opt.edge_margin)
    return np.clip(out, 0.0, 1.0, out=out)


@torch.inference_mode()
def predict_logits(
    model,
    image: np.ndarray,
    mean,
    std,
    tile: int = 512,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    channels_last: bool = False,
    batch: int = 1,
) -> np.ndarray:
    """Logits (n_classes, H, W) float32 of a raw image, predicted as ``predict_probabilities``
    does with one tiling (no shift averaging) of tiles of about ``tile`` px: validation's
    prediction. ``bf16`` and ``channels_last`` apply on CUDA only."""
    opt = PredictOptions(
        tile=tile, shift_average=False, batch=batch, bf16=bf16, channels_last=channels_last
    )
    return tiled_mean(model, image, mean, std, opt, torch.device(device)).cpu().numpy()


@torch.inference_mode()
def tiled_mean(model, image, mean, std, opt: PredictOptions, device, passes=None, transform=None):
    """(n_classes, H, W) float32 tensor on ``device``: ``transform`` (None: none) of the
    logits of every pixel, averaged over the shifted tilings ``passes`` (None: all of
    ``opt``'s grid). The one tiler of prediction and validation."""
    cuda = device.type == "cuda"
    n_in = len(mean)
    if image.ndim != 3 or image.shape[0] < n_in:
        raise ValueError(f"image of shape {image.shape} has fewer than {n_in} channels")
    _, h, w = image.shape
    b = int(model.border)
    offsets = opt.offsets
    ty = axis_tiles(h, opt.tile, offsets[-1], b, int(model.divisor))
    tx = axis_tiles(w, opt.tile, offsets[-1], b, int(model.divisor))
    gather = _tile_reader(image, mean, std, device, opt.bf16, b, (ty, tx))

    # Every (shift, tile) job; the tiling shifted by (oy, ox) starts at (-oy, -ox).
    if passes is None:
        passes = [(oy, ox) for oy in offsets for ox in offsets]
    jobs = []
    for oy, ox in passes:
        for y0 in range(-oy, h, ty):
            for x0 in range(-ox, w, tx):
                jobs.append((y0, x0))
    acc = torch.zeros((model.n_classes, h, w), dtype=torch.float32, device=device)
    fmt = torch.channels_last if (cuda and opt.channels_last) else torch.contiguous_format
    autocast = opt.bf16 and (cuda or opt.bf16_cpu)
    batch = max(1, int(opt.batch))
    t0 = time.perf_counter()
    for k in range(0, len(jobs), batch):
        chunk = jobs[k : k + batch]
        x = torch.stack([gather(y0, x0) for y0, x0 in chunk]).to(device)
        x = x.contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(x)
        prob = logits.float() if transform is None else transform(logits.float())
        for (y0, x0), p in zip(chunk, prob, strict=True):
            ya, xa = max(y0, 0), max(x0, 0)
            yb, xb = min(y0 + ty, h), min(x0 + tx, w)
            acc[:, ya:yb, xa:xb] += p[:, ya - y0 : yb - y0, xa - x0 : xb - x0]
    acc /= float(len(passes))
    log.debug(
        "%d x %d px: %d tiles of %d x %d out, %d shift(s), %.1f s",
        h,
        w,
        len(jobs),
        ty,
        tx,
        len(passes),
        time.perf_counter() - t0,
    )
    return acc


def _tile_reader(image, mean, std, device, bf16: bool, border: int, tile: tuple[int, int]):
    """``gather(y0, x0)``: the normalised (C, ty + 2 border, tx + 2 border) input of the
    output tile at (y0, x0), mirrored where it leaves the image. On the CPU the raw image
    is kept and each tile normalised on its own; on CUDA the whole image is normalised
    once onto the GPU (bf16 with ``bf16``) and tiles are sliced there."""
    n_in = len(mean)
    _, h, w = image.shape
    (ty, tx), b = tile, border
    m = np.asarray(mean, np.float32).reshape(n_in, 1, 1)
    s = np.asarray(std, np.float32).reshape(n_in, 1, 1)
    s = np.where(s > 0, s, np.float32(1.0))
    if device.type == "cuda":
        # The normalised image on the GPU (one channel at a time through the host).
        dtype = torch.bfloat16 if bf16 else torch.float32
        src = torch.empty((n_in, h, w), dtype=dtype, device=device)
        for c in range(n_in):
            ch = torch.from_numpy(image[c].astype(np.float32)).to(device)
            src[c] = (ch - float(m[c, 0, 0])) / float(s[c, 0, 0])

        def gather(y0: int, x0: int) -> torch.Tensor:
            r = torch.from_numpy(reflect_indices(y0 - b, ty + 2 * b, h)).to(device)
            c = torch.from_numpy(reflect_indices(x0 - b, tx + 2 * b, w)).to(device)
            return src.index_select(1, r).index_select(2, c)

        return gather
    raw = image[:n_in]
    inv_s = (1.0 / s).astype(np.float32)

    def gather(y0: int, x0: int) -> torch.Tensor:
        rows = reflect_indices(y0 - b, ty + 2 * b, h)
        cols = reflect_indices(x0 - b, tx + 2 * b, w)
        t = raw[:, rows[:, None], cols[None, :]].astype(np.float32)
        t -= m
        t *= inv_s
        return torch.from_numpy(t)

    return gather


def clear_edges(prob: np.ndarray, margin: int) -> None:
    """Pixels within ``margin`` of the image edge set to 0, in place."""
    if margin > 0:
        e = int(margin)
        prob[:, :e] = 0
        prob[:, prob.shape[1] - e :] = 0
        prob[:, :, :e] = 0
        prob[:, :, prob.shape[2] - e :] = 0
