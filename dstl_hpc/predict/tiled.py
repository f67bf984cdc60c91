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
model's training settings (patch_inner, bf16, channels_last): ``PredictOptions.of``.

Memory stays bounded: on the CPU the raw uint16 image is kept and each tile is
gathered and normalised on its own; on CUDA the normalised image lives on the GPU
(bf16 under autocast) and tiles are sliced there. The accumulator is
(n_classes, H, W) float32. bf16 autocast is used on CUDA only, unless
``bf16_cpu`` asks for it on the CPU too (a switch for benchmarks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from dstl_hpc.config.settings import PREDICT_DEFAULTS, TRAIN_DEFAULTS
from dstl_hpc.device import resolve_device
from dstl_hpc.errors import DstlError
from dstl_hpc.predict.settings import PredictSettings
from dstl_hpc.predict.tiles import axis_tiles, reflect_indices, shift_offsets

log = logging.getLogger(__name__)


@dataclass
class PredictOptions:
    """How one prediction runs: the prediction settings (defaults: the settings
    source's), the model's training settings it needs, and run-time choices."""

    tile: int = PREDICT_DEFAULTS["tile"]
    shift_steps: int = PREDICT_DEFAULTS["shift_steps"]  # 1 = no shift averaging
    patch_inner: int = TRAIN_DEFAULTS["patch_inner"]
    edge_margin: int = PREDICT_DEFAULTS["edge_margin"]
    batch: int = 1
    bf16: bool = TRAIN_DEFAULTS["bf16"]  # CUDA only, unless bf16_cpu
    channels_last: bool = TRAIN_DEFAULTS["channels_last"]  # CUDA only
    bf16_cpu: bool = False  # with bf16: autocast on the CPU too (benchmarks; off in the workflow)
    mosaic: bool = PREDICT_DEFAULTS["mosaic"]  # scene neighbours (dstl_hpc.predict.mosaic)
    shift_average: bool = PREDICT_DEFAULTS["shift_average"]  # False: one tiling
    combine: str = PredictSettings.ensemble  # how ensemble members are combined

    @classmethod
    def of(cls, settings: PredictSettings, meta: dict, **run) -> PredictOptions:
        """The options of ``settings`` for the model of ``meta`` (its hparams: patch_inner,
        bf16, channels_last), with the run-time ``run`` ones (batch, bf16_cpu...)."""
        hp = meta.get("hparams", {})
        opt = cls(
            tile=settings.tile,
            shift_steps=settings.shift_steps,
            shift_average=settings.shift_average,
            edge_margin=settings.edge_margin,
            mosaic=settings.mosaic,
            combine=settings.ensemble,
            patch_inner=int(hp.get("patch_inner", TRAIN_DEFAULTS["patch_inner"])),
            bf16=bool(hp.get("bf16", TRAIN_DEFAULTS["bf16"])),
            channels_last=bool(hp.get("channels_last", TRAIN_DEFAULTS["channels_last"])),
        )
        return replace(opt, **run)

    @property
    def offsets(self) -> list[int]:
        """The shift offsets along one axis (``dstl_hpc.predict.tiles.shift_offsets``)."""
        return shift_offsets(self.patch_inner, self.shift_steps, self.shift_average)


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
    _clear_edges(out, opt.edge_margin)
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


def to_uint8(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 0..255 (rounded)."""
    return np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)


def options_from_meta(meta: dict, **overrides) -> PredictOptions:
    """PredictOptions of a predictor (or model) file's ``PredictSettings`` and hparams,
    with the non-None ``overrides`` applied: prediction settings (a shift_steps turns
    shift averaging on) and run-time options (batch, bf16_cpu...)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    keys = PredictSettings.keys()
    settings = PredictSettings.of_model(meta).overridden(
        **{k: v for k, v in given.items() if k in keys}
    )
    return PredictOptions.of(settings, meta, **{k: v for k, v in given.items() if k not in keys})


def predict_file(
    model_path,
    stack_path,
    out_path,
    device: str = "auto",
    threads: int | None = None,
    **overrides,
) -> dict:
    """Predict one stack with one model file and write the prediction HDF5."""
    return predict_files(model_path, [(stack_path, out_path)], device, threads, **overrides)[0]


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


@dataclass
class ModelInput:
    """What a model reads from a stack: its first ``n_channels`` channels, then the
    index planes ``indices`` (dstl_hpc.prepare.indices) computed from them."""

    n_channels: int
    indices: list[str]
    channels: list[str]  # the stack channels the model was trained on, by name
    bands: dict | None = None  # geo: the bands (count, order, dtypes, resolution) trained on

    @classmethod
    def of(cls, meta: dict) -> ModelInput:
        hp = meta.get("hparams", {})
        indices = list(hp.get("indices") or [])
        n = len(meta["mean"]) - len(indices)
        channels = [str(c) for c in meta.get("channels", [])][:n]
        return cls(n, indices, channels, meta.get("bands"))

    def read(self, stack_path, rows=slice(None), cols=slice(None)) -> np.ndarray:
        """The model's input planes of a stack (a window of it with ``rows``/``cols``)."""
        from dstl_hpc.prepare.indices import source_channels, with_indices
        from dstl_hpc.prepare.stacks import open_h5

        n = source_channels(self.n_channels, self.indices)
        with open_h5(stack_path, "image") as h5:
            raw = h5["image"][:n, rows, cols]
        return with_indices(raw, self.n_channels, self.indices)

    def check(self, stack_path, info: dict) -> None:
        from dstl_hpc.prepare.indices import source_channels

        if self.bands and info.get("bands") and info["bands"] != self.bands:
            raise DstlError(
                f"{stack_path}: its bands {_bands_text(info['bands'])} are not the ones the "
                f"model was trained on ({_bands_text(self.bands)})"
            )
        have = info["channels"][: self.n_channels]
        if self.channels and have != self.channels:
            raise DstlError(
                f"{stack_path}: channels {have} do not match the model's {self.channels}"
            )
        need = source_channels(self.n_channels, self.indices)
        if info["shape"][0] < need:
            raise DstlError(f"{stack_path}: {info['shape'][0]} channels, the model needs {need}")


def _bands_text(bands: dict) -> str:
    """'6 bands b1, ...; files: 4 uint16 at 2 m, 2 uint16 at 4 m' of a bands record."""
    files = "; ".join(
        f"{f['count']} {'/'.join(sorted(set(f['dtypes'])))} at {f['resolution'][0]:g}"
        for f in bands.get("signature", [])
    )
    return f"{len(bands.get('channels', []))} channels {', '.join(bands.get('channels', []))}; files: {files}"


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
    _clear_edges(prob, opt.edge_margin)
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


def _clear_edges(prob: np.ndarray, margin: int) -> None:
    """Pixels within ``margin`` of the image edge set to 0, in place."""
    if margin > 0:
        e = int(margin)
        prob[:, :e] = 0
        prob[:, prob.shape[1] - e :] = 0
        prob[:, :, :e] = 0
        prob[:, :, prob.shape[2] - e :] = 0
