"""Random training patches from HDF5 stacks and masks (``reference-solution.md``, "Model").

One patch: pick a training image uniformly at random, then a random position of
the TARGET square (``patch_inner`` side) anywhere in the image (or clear of its edges:
``sample_margin``, :mod:`dstl_hpc.train.positions`); the input is that
square plus ``patch_border`` context pixels on each side, mirrored where it leaves
the image (as the predictor mirror-pads images), so edge pixels are trained too.
Images smaller than the patch are mirror-padded the same way.

Augmentations, in this order, each drawn from the patch's own generator:
rotation by a uniform angle in +-``rotate_deg`` about the patch centre (a window
large enough for the rotated square is read, so no corner is empty; image and
mask go through the same ``cv2.warpAffine``, linear); random horizontal and
vertical flips (``flips``); a per-channel multiplicative factor ``1 + jitter * N(0,1)``
on the raw values (``jitter``). The rotated mask is KEPT SOFT (linear interpolation
of the 0/1 planes, values in [0, 1]) as in the reference; unrotated masks stay 0/1.
With probability ``oversample`` a patch is redrawn (at most ``OVERSAMPLE_TRIES``
times) until its target holds a pixel >= 0.5 of one of the group's classes.

The input is the first ``n_channels`` channels normalised with the stats
(``(x - mean) / std``), float32 (C, S, S) with S = inner + 2 border; the target is
float32 (n_classes, inner, inner), the centre of the input patch.

Device path (``augment_on: device``, ``dstl_hpc.train.augment``): ``crop`` makes the
same draws in the same order (so the same patches, the same oversampling decisions)
but only copies the raw uint16 window that holds the patch at any angle
(``window_side`` px square around the patch centre, mirrored outside the image like
the CPU path); ``CropBatches`` (:mod:`dstl_hpc.train.batches`) hands out whole
batches of those windows with their draws, and the training device rotates, flips,
jitters and normalises them (``DeviceAugment``).

Determinism: ``PatchDataset`` (:mod:`dstl_hpc.train.batches`) draws patch ``i`` of
epoch ``e`` from ``numpy.random.default_rng([seed, e, i])``, so a batch does not
depend on worker count or on earlier batches, and a resumed run sees the same patches.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.memory import decide_in_memory
from dstl_hpc.predict.tiles import reflect_indices
from dstl_hpc.prepare.indices import source_channels, with_indices
from dstl_hpc.prepare.stacks import h5_shape
from dstl_hpc.train.positions import check_margin, margin_px, target_position

log = logging.getLogger(__name__)

OVERSAMPLE_TRIES = 100
# HDF5 chunk cache of each opened stack / mask (h5py's default is 1 MiB): holds every
# chunk of a rotated 96 px window (about 140 x 140 px, 12 channels) even in the old
# (20, 128, 128) layout, so a window's chunks are decompressed once per read.
H5_CHUNK_CACHE = 4 * 2**20
H5_CHUNK_SLOTS = 4099


# ------------------------------------------------------------------- sources


class Draw(NamedTuple):
    """One patch's random draws, made in this order from the patch's generator."""

    image: int
    top: int  # top-left of the input square in the image (negative: mirrored)
    left: int
    angle: float  # degrees
    hflip: bool
    vflip: bool
    factor: np.ndarray | None  # float32 per-channel jitter factors (>= 0), None: no jitter


def max_rotated_extent(rotate_deg: float) -> float:
    """max of |cos a| + |sin a| over |a| <= rotate_deg: how far a rotated square reaches,
    in half-sides (sqrt 2 at 45 degrees)."""
    if rotate_deg >= 45.0:
        return math.sqrt(2.0)
    rad = math.radians(rotate_deg)
    return math.cos(rad) + math.sin(rad)


def window_pad(side: int, rotate_deg: float) -> int:
    """Pixels around a ``side`` input square that bilinear sampling at any angle within
    +-rotate_deg reads (plus one): the device path's crop is side + 2 pad square, centred
    on the patch. Output pixel centres lie within (side / 2 - 0.5) * extent of the centre;
    bilinear sampling reads the pixels around them."""
    reach = (side / 2.0 - 0.5) * max_rotated_extent(rotate_deg)
    return math.ceil(reach + 0.5 - side / 2.0) + 1


def rotation_matrix(angle: float, out_side: int, cx: float, cy: float) -> np.ndarray:
    """cv2 inverse map of an ``out_side`` square rotated by ``angle`` degrees about
    (cx, cy) (continuous coordinates of the source array): destination index (u, v) ->
    source index centre + R d - 0.5, d = (u + 0.5 - out_side / 2, v + 0.5 - out_side / 2)."""
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    d0 = 0.5 - out_side / 2.0
    tx = cos * d0 - sin * d0 + cx - 0.5
    ty = sin * d0 + cos * d0 + cy - 0.5
    return np.array([[cos, -sin, tx], [sin, cos, ty]], np.float64)


class PatchSampler:
    """Draws (input, target) patches; picklable (HDF5 handles are reopened per process).

    Fast path: a patch's window (image channels and mask planes together) is read
    once into a float32 (h, w, C + n) array, rotated by ONE ``cv2.warpAffine`` call
    over all planes, and turned back to planes by one ``cv2.transpose``; flips are
    views, normalisation is two in-place passes on the output. In memory the stacks
    are kept pixel-interleaved (H, W, C + n) uint16 (masks as 0/1), so the window is
    one contiguous-row copy; ``images`` / ``masks`` are (C, H, W) / (n, H, W) views of
    that storage. The values are those of the per-plane computation (the same
    ``warpAffine`` on the same float32 window, the same float32 arithmetic).
    """

    def __init__(
        self,
        stack_paths,
        mask_paths,
        classes,
        mean,
        std,
        settings: dict,
        in_memory=None,
        known: int | None = None,
        copies: int = 1,
    ):
        """Settings, every file's shapes checked before any work, and the stacks loaded
        when they fit in memory (``decide_in_memory``); long because it checks each file.
        ``known``: the masks' ``known`` plane (geo data), carried after the class planes
        as the loss's per-pixel weight; ``copies``: processes (DDP ranks) loading their own."""
        if len(stack_paths) != len(mask_paths) or not stack_paths:
            raise ValueError("need as many mask files as stack files, and at least one")
        self.stack_paths = [Path(p) for p in stack_paths]
        self.mask_paths = [Path(p) for p in mask_paths]
        self.n_target = len(classes)  # the class planes; then ``known``, if any
        self.classes = [int(c) for c in classes] + ([int(known)] if known else [])
        # input planes: the stack's first n_channels channels, then the index planes,
        # computed from the first ``n_source`` channels wherever pixels are read
        self.indices = list(settings.get("indices") or [])
        self.n_stack = int(settings["n_channels"])
        self.n_source = source_channels(self.n_stack, self.indices)
        self.n_channels = self.n_stack + len(self.indices)
        if len(mean) < self.n_channels or len(std) < self.n_channels:
            raise DstlError(f"stats: need mean/std for {self.n_channels} channels, got {len(mean)}")
        self.mean = np.asarray(mean[: self.n_channels], np.float32).reshape(-1, 1, 1)
        std = np.asarray(std[: self.n_channels], np.float32)
        self.std = np.where(std > 0, std, np.float32(1)).reshape(-1, 1, 1)
        self.inner = int(settings["patch_inner"])
        self.border = int(settings["patch_border"])
        self.side = self.inner + 2 * self.border
        self.rotate_deg = float(settings["rotate_deg"])
        self.flips = bool(settings["flips"])
        self.jitter = float(settings["jitter"])
        self.oversample = float(settings["oversample"])
        # the device path's crop: the input square at any angle, plus bilinear's neighbours
        self.window_side = self.side + 2 * window_pad(self.side, self.rotate_deg)
        pad = (self.window_side - self.side) // 2  # sample_margin: dstl_hpc.train.positions
        self.margin = margin_px(settings.get("sample_margin", 0), self.border, pad)
        self.n_draws = 3 + self.n_channels  # angle, hflip, vflip, per-channel factors

        self.shapes: list[tuple[int, int]] = []
        for sp, mp in zip(self.stack_paths, self.mask_paths, strict=True):
            s_shape = h5_shape(sp, "image")
            m_shape = h5_shape(mp, "mask")
            if len(s_shape) != 3 or s_shape[0] < self.n_source:
                raise DstlError(f"{sp}: image of shape {s_shape} lacks {self.n_source} channels")
            if len(m_shape) != 3 or m_shape[0] < max(self.classes):
                raise DstlError(f"{mp}: mask of shape {m_shape} lacks class {max(self.classes)}")
            if s_shape[1:] != m_shape[1:]:
                raise DstlError(f"{mp}: mask size {m_shape[1:]} differs from {sp} {s_shape[1:]}")
            self.shapes.append((int(s_shape[1]), int(s_shape[2])))
        check_margin(self.shapes, self.stack_paths, self.inner, self.margin)
        area = sum(h * w for h, w in self.shapes)
        self.area = area
        nbytes = area * 2 * (self.n_channels + len(self.classes))  # uint16 (H, W, C + n)
        keep = decide_in_memory("auto" if in_memory is None else in_memory, nbytes * copies)
        self._hwc: list[np.ndarray] | None = None
        self.images: list[np.ndarray] | None = None
        self.masks: list[np.ndarray] | None = None
        self._handles: dict = {}
        self._pid = None
        if keep:
            self._hwc = [self._load(k) for k in range(len(self.shapes))]
            nc = self.n_channels
            self.images = [a[:, :, :nc].transpose(2, 0, 1) for a in self._hwc]
            self.masks = [a[:, :, nc:].transpose(2, 0, 1) for a in self._hwc]
            self._handles = {}  # the loader's handles are not needed any more

    def _load(self, k: int) -> np.ndarray:
        """Stack ``k`` and its class planes as one uint16 (H, W, C + n) array."""
        h, w = self.shapes[k]
        nc = self.n_channels
        out = np.empty((h, w, nc + len(self.classes)), np.uint16)
        img = self._dataset(self.stack_paths[k], "image")
        msk = self._dataset(self.mask_paths[k], "mask")
        step = 256
        for y in range(0, h, step):  # bands of rows: no second full-size copy
            rows = slice(y, y + step)
            out[y : y + step, :, :nc] = self._planes(img, rows, slice(None)).transpose(1, 2, 0)
            for j, c in enumerate(self.classes):
                out[y : y + step, :, nc + j] = msk[c - 1, y : y + step]
        self._handles.pop(self.stack_paths[k]).file.close()
        self._handles.pop(self.mask_paths[k]).file.close()
        return out

    def _planes(self, image, rows: slice, cols: slice) -> np.ndarray:
        """uint16 (n_channels, h, w) input planes of a stack dataset's window."""
        raw = image[: self.n_source, rows, cols]
        return with_indices(raw, self.n_stack, self.indices) if self.indices else raw

    # -- HDF5 handles: opened lazily, once per process (DataLoader workers fork)
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"], state["_pid"] = {}, None
        return state

    def _dataset(self, path: Path, name: str):
        import h5py

        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if path not in self._handles:
            # A chunk cache that holds a whole patch window of any layout written so far.
            h5 = h5py.File(path, "r", rdcc_nbytes=H5_CHUNK_CACHE, rdcc_nslots=H5_CHUNK_SLOTS)
            self._handles[path] = h5[name]
        return self._handles[path]

    @property
    def in_memory(self) -> bool:
        return self._hwc is not None

    def _window(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """float32 (y1-y0, x1-x0, C + n): image channels then class planes, mirrored outside."""
        buf = np.empty((y1 - y0, x1 - x0, self.n_channels + len(self.classes)), np.float32)
        np.copyto(buf, self._raw_window(i, y0, y1, x0, x1))
        return buf

    def _raw_window(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """uint16 (y1-y0, x1-x0, C + n) as stored (a view where possible), mirrored outside."""
        h, w = self.shapes[i]
        if self.in_memory:
            src = self._hwc[i]
            if y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w:
                return src[y0:y1, x0:x1]
            ry = reflect_indices(y0, y1 - y0, h)
            rx = reflect_indices(x0, x1 - x0, w)
            return src[np.ix_(ry, rx)]
        chw = self._read(i, y0, y1, x0, x1)
        planes, hh, ww = chw.shape
        hwc = cv2.transpose(chw.reshape(planes, hh * ww))  # (h * w, planes), same dtype
        return hwc.reshape(hh, ww, planes)

    def _read(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """uint16 (C + n, y1-y0, x1-x0) from HDF5: one read per dataset (a mask plane
        per class), of the window clipped to the image, mirrored outside."""
        h, w = self.shapes[i]
        cy0, cy1 = max(0, y0), min(h, y1)
        cx0, cx1 = max(0, x0), min(w, x1)
        if (cy0, cy1, cx0, cx1) != (y0, y1, x0, x1):
            ry = reflect_indices(y0, y1 - y0, h)
            rx = reflect_indices(x0, x1 - x0, w)
            # mirrored indices may reach beyond the clipped window: read their span
            cy0, cy1 = min(cy0, int(ry.min())), max(cy1, int(ry.max()) + 1)
            cx0, cx1 = min(cx0, int(rx.min())), max(cx1, int(rx.max()) + 1)
        nc = self.n_channels
        out = np.empty((nc + len(self.classes), cy1 - cy0, cx1 - cx0), np.uint16)
        image = self._dataset(self.stack_paths[i], "image")
        out[:nc] = self._planes(image, slice(cy0, cy1), slice(cx0, cx1))
        masks = self._dataset(self.mask_paths[i], "mask")
        for j, c in enumerate(self.classes):
            out[nc + j] = masks[c - 1, cy0:cy1, cx0:cx1]
        if (cy0, cy1, cx0, cx1) != (y0, y1, x0, x1):
            out = out[:, ry - cy0][:, :, rx - cx0]
        return np.ascontiguousarray(out)

    def _draws(self, rng: np.random.Generator) -> Draw:
        """One patch's draws: image, target position, angle, flips, jitter (in this order)."""
        i = int(rng.integers(len(self.shapes)))
        h, w = self.shapes[i]
        inner, b = self.inner, self.border
        ty, tx = target_position(rng, h, w, inner, self.margin)
        angle = float(rng.uniform(-self.rotate_deg, self.rotate_deg)) if self.rotate_deg else 0.0
        hflip = vflip = False
        if self.flips:
            hflip = bool(rng.random() < 0.5)
            vflip = bool(rng.random() < 0.5)
        factor = None
        if self.jitter > 0:
            factor = 1.0 + self.jitter * rng.standard_normal(self.n_channels)
            factor = np.maximum(factor, 0).astype(np.float32)
        return Draw(i, ty - b, tx - b, angle, hflip, vflip, factor)

    def _draw(self, rng: np.random.Generator):
        """One patch before normalisation: raw image (C, S, S), mask (n, inner, inner)."""
        d = self._draws(rng)
        inner, b, side = self.inner, self.border, self.side
        py, px = d.top, d.left
        if d.angle == 0.0:
            both = self._window(d.image, py, py + side, px, px + side)
        else:
            both = self._rotated(d.image, py, px, d.angle)
        # (S, S, C + n) -> (C + n, S, S): one transpose of a (S * S, C + n) matrix
        planes = cv2.transpose(both.reshape(side * side, -1)).reshape(-1, side, side)
        nc = self.n_channels
        img, msk = planes[:nc], planes[nc:, b : b + inner, b : b + inner]
        if d.hflip:
            img, msk = img[:, :, ::-1], msk[:, :, ::-1]
        if d.vflip:
            img, msk = img[:, ::-1], msk[:, ::-1]
        if d.factor is not None:
            img = img * d.factor.reshape(-1, 1, 1)
        return img, msk

    def _rotated(self, i: int, py: int, px: int, angle: float) -> np.ndarray:
        """float32 (S, S, C + n): the rotated window, image and mask planes together."""
        side = self.side
        cx, cy = px + side / 2.0, py + side / 2.0  # centre, continuous coordinates
        rad = math.radians(angle)
        r = side / 2.0 * (abs(math.cos(rad)) + abs(math.sin(rad)))
        wx0, wy0 = math.floor(cx - r) - 1, math.floor(cy - r) - 1
        wx1, wy1 = math.ceil(cx + r) + 2, math.ceil(cy + r) + 2
        win = self._window(i, wy0, wy1, wx0, wx1)
        # Image and mask are warped together (one call, identical interpolation
        # weights); the mask is then cropped.
        m = rotation_matrix(angle, side, cx - wx0, cy - wy0)
        out = cv2.warpAffine(
            win,
            m,
            (side, side),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        return out.reshape(side, side, win.shape[2])

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(input float32 (C, S, S) normalised, target float32 (n, inner, inner))."""
        want_positive = self.oversample > 0 and rng.random() < self.oversample
        img, msk = self._draw(rng)
        tries = 1
        while want_positive and tries < OVERSAMPLE_TRIES and not (msk >= 0.5).any():
            img, msk = self._draw(rng)
            tries += 1
        x = np.empty(img.shape, np.float32)
        np.subtract(img, self.mean, out=x)
        np.divide(x, self.std, out=x)
        return x, np.ascontiguousarray(msk, np.float32)

    # -- device path: raw windows and their draws; the device rotates them
    def crop(self, rng: np.random.Generator, out: np.ndarray) -> np.ndarray:
        """The draws of ``sample(rng)`` (the same patch), its raw window written into
        ``out`` (uint16 (window_side, window_side, C + n), centred on the patch);
        returns the draws as float64 (n_draws,): angle, hflip, vflip, factors."""
        want_positive = self.oversample > 0 and rng.random() < self.oversample
        d = self._crop_into(rng, out)
        tries = 1
        while want_positive and tries < OVERSAMPLE_TRIES and not self._positive(out, d.angle):
            d = self._crop_into(rng, out)
            tries += 1
        row = np.ones(self.n_draws, np.float64)
        row[:3] = d.angle, d.hflip, d.vflip
        if d.factor is not None:
            row[3:] = d.factor
        return row

    def _crop_into(self, rng: np.random.Generator, out: np.ndarray) -> Draw:
        d = self._draws(rng)
        pad = (self.window_side - self.side) // 2
        y0, x0 = d.top - pad, d.left - pad
        ws = self.window_side
        np.copyto(out, self._raw_window(d.image, y0, y0 + ws, x0, x0 + ws))
        return d

    def _positive(self, window: np.ndarray, angle: float) -> bool:
        """Whether the patch's target (rotated by ``angle``, as the CPU path computes it)
        holds a pixel >= 0.5 of one of the classes; flips do not change that."""
        masks = window[:, :, self.n_channels : self.n_channels + self.n_target]
        if angle == 0.0:  # the target is a crop of 0/1 planes
            t0 = (self.window_side - self.inner) // 2
            return bool(masks[t0 : t0 + self.inner, t0 : t0 + self.inner].any())
        if not masks.any():
            return False
        centre = self.window_side / 2.0
        m = rotation_matrix(angle, self.inner, centre, centre)
        target = cv2.warpAffine(
            masks.astype(np.float32),
            m,
            (self.inner, self.inner),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        return bool((target >= 0.5).any())
