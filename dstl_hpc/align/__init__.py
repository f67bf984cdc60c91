"""Align the P, M and A bands to RGB and build the 20-channel stack of one image.

Convention (the stack's ``alignment`` attribute, ``docs/contracts.md``): ``dx, dy`` is
the displacement of a band's content relative to RGB in pixels of that band. With
continuous pixel coordinates (pixel u covers [u, u + 1), its centre is u + 0.5) a
feature at RGB (x, y) appears in a band of size (h, w) at
``(x * w / W + dx, y * h / H + dy)``. ``cv2.resize`` and ``cv2.INTER_AREA`` follow the
same pixel-centre convention, so a reference resized to the band's size is the RGB
content in the band's pixel grid, and ECC's translation is directly (dx, dy).

Estimation (:func:`estimate_shift`): both images are percentile-scaled (1st..99th ->
[0, 1], clipped) float32. Starting points: for images up to ``COARSE_SIDE`` px, ECC
runs from the phase-correlation shift and from 0 and the higher correlation wins; a
larger image is first aligned that way on an area-downsampled copy. Then
``cv2.findTransformECC`` (``MOTION_TRANSLATION``, criteria EPS|COUNT 5000 / 1e-8,
Gaussian pre-filter ``gauss_filt_size`` capped at 1/16 of the band's smaller side)
works at the band's own resolution. ECC can end in a two-state
limit cycle whose correlation differs by more than 1e-8 (it then runs all 5000
iterations: 15 minutes at P's size), so it runs in chunks of iterations and stops once
a chunk moves the translation less than 1e-4 px, or by a move under 0.01 px that no
longer shrinks (see :func:`_ecc`). A shift that is not finite or larger
than ``max_shift_frac`` of the band (at least ``min_shift_limit`` px), or ECC's
``cv2.error``, leaves the band unaligned (dx = dy = 0, cc None, converged false) with
a warning naming the image and the band.

Pairs, ``reference="grey"`` (the original solution): P -> RGB grey (mean of R, G, B);
M (mean of M1..M3) -> RGB grey; A1 -> M8 after M's alignment (RGB grey when that
fails). ``reference="fit"`` (default): the reference is the least-squares combination
of the reference bands (R, G, B for P and M; M1..M8 for A) that best matches the band
(:func:`fit_reference`), fitted again once at the shift found (``refit``), and A is
aligned as the mean of A1..A8. The bands see different spectra (P spans red edge and
NIR, A is SWIR): on synthetic data this cuts P's error 3-5x and A's 5-10x (see
``benchmarks/align.py``). A is compared with M's bands area-resized to A's size
without warping them first; M's shift is added to the result, which is the same as
aligning to the warped M minus one interpolation. ``a_reference="rgb"`` aligns A to
R, G, B directly (worse on synthetic data).

Resampling (``resample="direct"``, default): each band is warped and upscaled to the
RGB size in one ``cv2.warpAffine`` (cubic, ``WARP_INVERSE_MAP``, replicated border):
RGB pixel X samples the band at ``(X + 0.5) * w / W - 0.5 + dx``. ``"two_step"`` is the
reference solution's way (linear warp at the band's size, then cubic resize). Either
way the RGB pixels whose position falls outside the band's footprint get the band's
mean, not 0.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from dstl_hpc.dataset import CHANNELS, band_shape_problem, non_finite_count
from dstl_hpc.errors import DstlError

log = logging.getLogger(__name__)

ECC_ITERATIONS = 5000
ECC_EPS = 1e-8
ECC_CHUNK = 10  # iterations of the first findTransformECC call (see the module docstring)
ECC_VERIFY = 5  # iterations of each further call
ECC_STABLE_PX = 1e-4  # a call that moves the translation less than this ends ECC
ECC_CYCLE_PX = 1e-2  # moves under this that stop shrinking are a limit cycle: ends ECC
GAUSS_SIDE_FRACTION = 16  # ECC pre-filter at most 1/16 of the band's smaller side
ECC_MAX_CALLS = 40  # calls (at most 10 + 39 * 5 iterations) before giving up
COARSE_SIDE = 512  # phase correlation / coarse ECC work on at most about this many px
PERCENTILE_SAMPLES = 1_000_000  # pixels sampled for the 1st / 99th percentiles
FIT_SAMPLES = 250_000  # pixels sampled for a reference's least-squares fit
FIT_COARSE_SIDE = 1024  # larger bands are fitted on a downsampled copy first
U16_MAX = 65535


class AlignmentFailed(Exception):
    """ECC found no (plausible) translation; the band is then kept unaligned."""


@dataclass(frozen=True)
class AlignOptions:
    """Settings of :func:`align_image` (defaults chosen by ``benchmarks/align.py``)."""

    gauss_filt_size: int = 5  # ECC's Gaussian pre-filter (odd; 1 = none)
    ref_resize: str = "area"  # reference -> band size: "area" or "cubic"
    coarse: bool = True  # phase correlation (+ coarse ECC) initial estimate
    reference: str = "fit"  # "fit" (least-squares band combination) or "grey" (mean)
    refit: int = 1  # fits of the reference again at the shift found (with "fit")
    a_reference: str = "m"  # A to M after M's alignment ("m") or straight to RGB ("rgb")
    resample: str = "direct"  # "direct" (one cubic warp) or "two_step"
    max_shift_frac: float = 0.1  # a shift beyond this fraction of the band size ...
    min_shift_limit: float = 3.0  # ... (but at least this many band px) is implausible
    iterations: int = ECC_ITERATIONS
    eps: float = ECC_EPS

    def validate(self) -> None:
        if self.gauss_filt_size < 1 or self.gauss_filt_size % 2 == 0:
            raise ValueError(f"gauss_filt_size must be odd and >= 1, got {self.gauss_filt_size}")
        if self.ref_resize not in _REF_INTERP:
            raise ValueError(f"ref_resize must be one of {tuple(_REF_INTERP)}")
        if self.reference not in ("fit", "grey"):
            raise ValueError("reference must be 'fit' or 'grey'")
        if self.a_reference not in ("m", "rgb"):
            raise ValueError("a_reference must be 'm' or 'rgb'")
        if self.refit < 0:
            raise ValueError("refit must be >= 0")
        if self.resample not in ("direct", "two_step"):
            raise ValueError("resample must be 'direct' or 'two_step'")


_REF_INTERP = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}


# ------------------------------------------------------------------ helpers


def unit_scale(img: np.ndarray) -> np.ndarray:
    """float32 copy with the 1st..99th percentile mapped onto [0, 1] (clipped).

    Raises AlignmentFailed for an image without contrast (all pixels in one value).
    """
    a = np.asarray(img, dtype=np.float32)
    flat = a.ravel()
    step = max(1, flat.size // PERCENTILE_SAMPLES)
    lo, hi = np.percentile(flat[::step], (1.0, 99.0))
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise AlignmentFailed("non-finite pixel values")
    if hi <= lo:
        lo, hi = float(flat.min()), float(flat.max())
        if hi <= lo:
            raise AlignmentFailed("the image is constant")
    out = (a - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    return out


def grey(bands: np.ndarray) -> np.ndarray:
    """Mean of the channels of a (C, H, W) array as float32 (H, W)."""
    bands = np.asarray(bands)
    out = bands[0].astype(np.float32)
    for c in range(1, bands.shape[0]):
        out += bands[c]
    out *= np.float32(1.0 / bands.shape[0])
    return out


def resize_to(img: np.ndarray, shape: tuple[int, int], method: str = "area") -> np.ndarray:
    """Resize a 2-D image to (h, w) with the pixel-centre convention of cv2.resize."""
    h, w = int(shape[0]), int(shape[1])
    if img.shape == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=_REF_INTERP[method])


# --------------------------------------------------------------- estimation


def gauss_size(requested: int, shape: tuple[int, int]) -> int:
    """ECC's Gaussian pre-filter: ``requested``, but at most 1/16 of the smaller side
    (odd): a 5 px filter on a 15 px A band (384 px demo images) blurs away what
    little it shows (measured on synthetic data: A's error 0.2 -> 0.76 px)."""
    cap = max(1, min(shape) // GAUSS_SIDE_FRACTION)
    cap -= 1 - cap % 2  # odd
    return max(1, min(requested, cap))


def _ecc(ref: np.ndarray, mov: np.ndarray, init: tuple[float, float], opts: AlignOptions):
    """findTransformECC (translation) from ``init``, in chunks; (dx, dy, cc).

    The first call may run ``ECC_CHUNK`` iterations, the next ones ``ECC_VERIFY``. They
    end ECC once a call moves the translation less than ``ECC_STABLE_PX``, or (a limit
    cycle) once the move stops shrinking while under ``ECC_CYCLE_PX``. After
    ``ECC_MAX_CALLS`` calls, a translation still moving by more than that has not
    converged.
    """
    warp = np.array([[1, 0, init[0]], [0, 1, init[1]]], dtype=np.float32)
    gauss = gauss_size(opts.gauss_filt_size, ref.shape)
    done, calls, cc, last_move = 0, 0, float("nan"), math.inf
    while done < opts.iterations:
        n = min(ECC_CHUNK if done == 0 else ECC_VERIFY, opts.iterations - done)
        before = warp.copy()
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, n, opts.eps)
        cc, warp = cv2.findTransformECC(
            ref, mov, warp, cv2.MOTION_TRANSLATION, criteria, None, gauss
        )
        done += n
        calls += 1
        if not np.all(np.isfinite(warp)) or not math.isfinite(cc):
            raise AlignmentFailed("ECC gave a non-finite result")
        move = float(np.abs(warp - before).max())
        if move < ECC_STABLE_PX or (calls > 1 and last_move <= move < ECC_CYCLE_PX):
            break
        if calls >= ECC_MAX_CALLS:
            if move < ECC_CYCLE_PX:
                break
            raise AlignmentFailed(f"ECC still moving by {move:.3g} px after {done} iterations")
        last_move = move
    return float(warp[0, 2]), float(warp[1, 2]), float(cc)


def _limit(shape: tuple[int, int], opts: AlignOptions) -> tuple[float, float]:
    h, w = shape
    return (
        max(opts.max_shift_frac * w, opts.min_shift_limit),
        max(opts.max_shift_frac * h, opts.min_shift_limit),
    )


def _plausible(d: tuple[float, float], limit: tuple[float, float]) -> bool:
    return all(math.isfinite(v) and abs(v) <= lim for v, lim in zip(d, limit, strict=True))


def _phase_shift(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float]:
    h, w = ref.shape
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    # Windowed copies: OpenCV 5.0's phaseCorrelate multiplies its inputs by the
    # window in place.
    (dx, dy), _response = cv2.phaseCorrelate(ref * window, mov * window)
    return float(dx), float(dy)


def _run_ecc(ref, mov, init, opts: AlignOptions, limit, reasons: list[str]):
    """ECC from ``init``: (dx, dy, cc), or None with the reason appended."""
    try:
        dx, dy, cc = _ecc(ref, mov, init, opts)
    except cv2.error as exc:
        reasons.append(_cv_message(exc))
        return None
    except AlignmentFailed as exc:
        reasons.append(str(exc))
        return None
    if not _plausible((dx, dy), limit):
        reasons.append(f"implausible shift ({dx:.3g}, {dy:.3g}) px")
        return None
    return dx, dy, cc


def _failed(reasons: list[str]) -> AlignmentFailed:
    return AlignmentFailed("; ".join(dict.fromkeys(reasons)) or "no estimate")


def _first(ref, mov, inits, opts: AlignOptions, limit) -> tuple[float, float, float]:
    """ECC from each initial estimate in turn; the first plausible result."""
    reasons: list[str] = []
    for init in dict.fromkeys(inits):
        result = _run_ecc(ref, mov, init, opts, limit, reasons)
        if result is not None:
            return result
    raise _failed(reasons)


def _best(ref, mov, inits, opts: AlignOptions, limit) -> tuple[float, float, float]:
    """ECC from every initial estimate; the plausible result of highest correlation."""
    reasons: list[str] = []
    results = [_run_ecc(ref, mov, i, opts, limit, reasons) for i in dict.fromkeys(inits)]
    results = [r for r in results if r is not None]
    if not results:
        raise _failed(reasons)
    return max(results, key=lambda r: r[2])


def _cv_message(exc: cv2.error) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else repr(exc)
    return "ECC did not converge (" + msg.split(") ")[-1].strip(" >-") + ")"


def _phase_init(ref, mov, limit) -> list[tuple[float, float]]:
    """[phase correlation shift] when it is plausible, else []."""
    try:
        d = _phase_shift(ref, mov)
    except cv2.error:
        return []
    return [d] if _plausible(d, limit) else []


def estimate_shift(
    reference: np.ndarray,
    moving: np.ndarray,
    options: AlignOptions | None = None,
    init: tuple[float, float] | None = None,
):
    """(dx, dy, cc): displacement of ``moving``'s content relative to ``reference``.

    Both are 2-D images of the same shape (any dtype; they are percentile-scaled here).
    A feature at (x, y) of the reference appears at (x + dx, y + dy) in ``moving``; cc
    is ECC's correlation coefficient. Raises :class:`AlignmentFailed` when ECC does
    not converge, or its shift is non-finite or implausibly large.

    Starting points: ``init`` when given (falling back to the search below). Images of
    at most ``COARSE_SIDE`` px: ECC from the phase correlation shift and from 0, the
    better correlation wins. Larger images: that search on an area-downsampled copy,
    then ECC at full resolution from its (scaled) result, or from 0 if that fails.
    """
    opts = options or AlignOptions()
    if reference.ndim != 2 or reference.shape != moving.shape:
        raise ValueError(f"need two 2-D images of one shape, got {reference.shape}, {moving.shape}")
    ref = unit_scale(reference)
    mov = unit_scale(moving)
    limit = _limit(ref.shape, opts)
    zero = (0.0, 0.0)
    if init is not None:
        init = (float(init[0]), float(init[1]))
        if _plausible(init, limit):
            try:
                return _first(ref, mov, [init], opts, limit)
            except AlignmentFailed:
                pass
    h, w = ref.shape
    f = math.ceil(max(h, w) / COARSE_SIDE)
    if not opts.coarse:
        return _first(ref, mov, [zero], opts, limit)
    if f <= 1:
        return _best(ref, mov, _phase_init(ref, mov, limit) + [zero], opts, limit)
    hs, ws = max(2, round(h / f)), max(2, round(w / f))
    r = cv2.resize(ref, (ws, hs), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mov, (ws, hs), interpolation=cv2.INTER_AREA)
    small_limit = _limit((hs, ws), opts)
    try:
        sx, sy, _ = _best(r, m, _phase_init(r, m, small_limit) + [zero], opts, small_limit)
        inits = [(sx * w / ws, sy * h / hs), zero]
    except AlignmentFailed:
        inits = [zero]
    return _first(ref, mov, inits, opts, limit)


def fit_weights(
    channels: list[np.ndarray], target: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Weights w of the least-squares fit ``sum_i w_i * channels[i] + c ~ target``.

    All images are 2-D of one shape. ``shift`` is the target's current displacement
    estimate: the target is moved back by it before the fit (borders left out), so
    that the fit compares the same ground.
    """
    h, w = target.shape
    dx, dy = float(shift[0]), float(shift[1])
    margin = 0
    if dx != 0 or dy != 0:
        margin = min(math.ceil(max(abs(dx), abs(dy))) + 1, (min(h, w) - 2) // 2)
    step = max(1, math.ceil(math.sqrt(h * w / FIT_SAMPLES)))
    win = (slice(margin, h - margin, step), slice(margin, w - margin, step))
    if dx != 0 or dy != 0:
        # the target sampled at the window's pixels + shift (bilinear, as ECC's warp)
        ys = np.arange(h, dtype=np.float32)[win[0]] + np.float32(dy)
        xs = np.arange(w, dtype=np.float32)[win[1]] + np.float32(dx)
        map_x = np.broadcast_to(xs[None, :], (len(ys), len(xs))).copy()
        map_y = np.broadcast_to(ys[:, None], (len(ys), len(xs))).copy()
        t = cv2.remap(
            np.asarray(target, np.float32), map_x, map_y, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
    else:
        t = np.asarray(target, np.float32)[win]
    x = np.stack([np.asarray(c, np.float64)[win].ravel() for c in channels], axis=1)
    x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, t.ravel().astype(np.float64), rcond=None)
    return coef[:-1]


def combine(channels: list[np.ndarray], weights) -> np.ndarray:
    """``sum_i weights[i] * channels[i]`` as float32."""
    out = np.zeros(channels[0].shape, np.float32)
    for c, k in zip(channels, weights, strict=True):
        out += np.float32(k) * np.asarray(c, np.float32)
    return out


def fit_reference(
    channels: list[np.ndarray], target: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """The combination of ``channels`` closest to ``target`` (see :func:`fit_weights`):
    a grey reference matched to the band's spectrum."""
    return combine(channels, fit_weights(channels, target, shift))


# ---------------------------------------------------------------- resampling


def _outside(n_out: int, scale: float, shift: float, n_band: int) -> np.ndarray:
    """Output pixels (1-D) whose centre falls outside the band's extent [0, n_band]."""
    pos = (np.arange(n_out) + 0.5) * scale + shift
    return (pos < 0) | (pos > n_band)


def resample_band(
    band: np.ndarray,
    shift: tuple[float, float],
    size: tuple[int, int],
    mode: str = "direct",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Warp (C, h, w) ``band`` so its content lines up with RGB and upscale it to (H, W).

    ``shift`` is the band's (dx, dy) in band pixels. Returns (C, H, W) uint16 (written
    into ``out`` when given); pixels outside the band's footprint get the channel mean.
    """
    H, W = int(size[0]), int(size[1])
    C, h, w = band.shape
    dx, dy = float(shift[0]), float(shift[1])
    if out is None:
        out = np.empty((C, H, W), np.uint16)
    sx, sy = w / W, h / H
    for c in range(C):
        src = band[c]
        mean = float(src.mean(dtype=np.float64))
        if mode == "direct":
            if (h, w) == (H, W) and dx == 0 and dy == 0:
                res = src
            else:
                matrix = np.array(
                    [[sx, 0.0, 0.5 * sx - 0.5 + dx], [0.0, sy, 0.5 * sy - 0.5 + dy]], np.float64
                )
                res = cv2.warpAffine(
                    _as_cv(src),
                    matrix,
                    (W, H),
                    flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            cols = _outside(W, sx, dx, w)
            rows = _outside(H, sy, dy, h)
        elif mode == "two_step":
            res = src.astype(np.float32)
            if dx != 0 or dy != 0:
                matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float64)
                res = cv2.warpAffine(
                    res,
                    matrix,
                    (w, h),
                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REPLICATE,
                )
                res[:, _outside(w, 1.0, dx, w)] = mean
                res[_outside(h, 1.0, dy, h), :] = mean
            if (h, w) != (H, W):
                res = cv2.resize(res, (W, H), interpolation=cv2.INTER_CUBIC)
            cols = rows = None
        else:
            raise ValueError(f"unknown resample mode {mode!r}")
        _store(out[c], res)
        fill = min(max(round(mean), 0), U16_MAX)
        if cols is not None and cols.any():
            out[c][:, cols] = fill
        if rows is not None and rows.any():
            out[c][rows, :] = fill
    return out


def _as_cv(src: np.ndarray) -> np.ndarray:
    """An array cv2.warpAffine takes as it is (uint16 / float32), else float32."""
    if src.dtype in (np.uint16, np.float32) and src.flags.c_contiguous:
        return src
    return np.ascontiguousarray(src, dtype=np.float32)


def _store(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy into uint16 ``dst``, rounding and clipping to the uint16 range."""
    if src.dtype == np.uint16:
        dst[...] = src
    else:
        np.copyto(dst, np.clip(np.rint(src), 0, U16_MAX), casting="unsafe")


# --------------------------------------------------------------------- image


def _try(ref, mov, opts: AlignOptions, reasons: list[str], what: str, init=None):
    """estimate_shift, or None with the reason appended to ``reasons``."""
    try:
        return estimate_shift(ref, mov, opts, init)
    except AlignmentFailed as exc:
        reasons.append(f"{what}: {exc}")
        return None


def _record(out: dict, image_id: str, band: str, result, reasons: list[str]) -> None:
    if result is None:
        log.warning(
            "%s: band %s not aligned, kept as it is (%s)", image_id, band, "; ".join(reasons)
        )
        out[band] = {"dx": 0.0, "dy": 0.0, "cc": None, "converged": False}
        return
    dx, dy, cc = result
    log.debug("%s: band %s dx %.3f dy %.3f cc %.4f", image_id, band, dx, dy, cc)
    out[band] = {"dx": float(dx), "dy": float(dy), "cc": float(cc), "converged": True}


def _fit_pair(channels, target, opts: AlignOptions, reasons: list[str], what: str):
    """Fit, align, fit again at the shift found (``refit`` times): (result, weights)."""
    weights = fit_weights(channels, target)
    result = _try(combine(channels, weights), target, opts, reasons, what + " (fit)")
    if result is None:
        return None, weights
    for _ in range(opts.refit):
        new_weights = fit_weights(channels, target, result[:2])
        ref = combine(channels, new_weights)
        again = _try(ref, target, opts, reasons, what + " (refit)", init=result[:2])
        if again is None:
            break
        result, weights = again, new_weights
    return result, weights


def _pair(channels, target, opts: AlignOptions, reasons: list[str], what: str):
    """Align ``target`` to the grey (mean) or fitted combination of ``channels``.

    A large band (P) is fitted and aligned on an area-downsampled copy first; the full
    resolution then needs one ECC run with the final weights, from the scaled shift.
    """
    if opts.reference == "grey":
        return _try(grey(np.stack(channels)), target, opts, reasons, what + " (grey)")
    h, w = target.shape
    f = math.ceil(max(h, w) / FIT_COARSE_SIDE)
    result = None
    if f > 1:
        hs, ws = max(2, round(h / f)), max(2, round(w / f))
        small = [cv2.resize(np.asarray(c, np.float32), (ws, hs), interpolation=cv2.INTER_AREA)
                 for c in channels]  # fmt: skip
        small_t = cv2.resize(np.asarray(target, np.float32), (ws, hs), interpolation=cv2.INTER_AREA)
        coarse, weights = _fit_pair(small, small_t, opts, reasons, what + " at 1/" + str(f))
        if coarse is not None:
            init = (coarse[0] * w / ws, coarse[1] * h / hs)
            ref = combine(channels, weights)
            result = _try(ref, target, opts, reasons, what + " (fit)", init=init)
    if result is None:
        result, _ = _fit_pair(channels, target, opts, reasons, what)
    if result is None:  # a degenerate fit: the plain mean may still do
        result = _try(grey(np.stack(channels)), target, opts, reasons, what + " (grey)")
    return result


def estimate_alignment(rgb, p, m, a, image_id: str = "", options: AlignOptions | None = None):
    """The alignment dict {"P"|"M"|"A": {"dx", "dy", "cc", "converged"}} of one image."""
    opts = options or AlignOptions()
    opts.validate()
    method = opts.ref_resize
    hp, wp = p.shape
    hm, wm = m.shape[1:]
    ha, wa = a.shape[1:]
    out: dict[str, dict] = {}

    def rgb_at(shape):
        return [resize_to(c.astype(np.float32), shape, method) for c in rgb]

    # P -> RGB
    reasons: list[str] = []
    r = _pair(rgb_at((hp, wp)), p, opts, reasons, "P to RGB")
    _record(out, image_id, "P", r, reasons)

    # M (mean of M1..M3) -> RGB
    reasons = []
    m_shift = _pair(rgb_at((hm, wm)), grey(m[:3]), opts, reasons, "M1-M3 to RGB")
    _record(out, image_id, "M", m_shift, reasons)

    # A -> M after M's alignment (M's shift added), or -> RGB
    reasons = []
    if opts.reference == "grey":  # the reference solution: A1 to M8, or to RGB grey
        target, m_channels = a[0], [resize_to(m[7].astype(np.float32), (ha, wa), method)]
    else:  # mean of A1..A8 to a combination of M1..M8, or of R, G, B
        target = grey(a)
        m_channels = [resize_to(c.astype(np.float32), (ha, wa), method) for c in m]
    r = None
    if opts.a_reference == "m" and m_shift is not None:
        r = _pair(m_channels, target, opts, reasons, "A to M")
        if r is not None:
            r = (r[0] + m_shift[0] * wa / wm, r[1] + m_shift[1] * ha / hm, r[2])
    if r is None:
        r = _pair(rgb_at((ha, wa)), target, opts, reasons, "A to RGB")
    _record(out, image_id, "A", r, reasons)
    return out


def assemble_stack(rgb, p, m, a, alignment: dict, mode: str = "direct") -> np.ndarray:
    """The (20, H, W) uint16 stack R, G, B, P, M1..M8, A1..A8 aligned to RGB."""
    _, H, W = rgb.shape
    stack = np.empty((len(CHANNELS), H, W), np.uint16)
    stack[:3] = rgb
    for band, arr, first in (("P", p[None], 3), ("M", m, 4), ("A", a, 12)):
        d = alignment[band]
        resample_band(arr, (d["dx"], d["dy"]), (H, W), mode, out=stack[first : first + len(arr)])
    return stack


def check_shapes(rgb, p, m, a) -> None:
    """ValueError unless RGB (3,H,W), P (h,w), M (8,h,w), A (8,h,w) with h, w >= 2."""
    for name, arr, ndim, ch in (
        ("RGB", rgb, 3, 3),
        ("P", p, 2, None),
        ("M", m, 3, 8),
        ("A", a, 3, 8),
    ):
        if arr.ndim != ndim or (ch is not None and arr.shape[0] != ch) or min(arr.shape[-2:]) < 2:
            want = f"{ch} x H x W" if ch else "H x W"
            raise ValueError(f"{name}: shape {arr.shape}, expected {want}")


def check_bands(rgb, p, m, a, image_id: str = "") -> None:
    """DstlError for NaN / inf pixels, or a band whose shape cannot belong to the RGB image
    (P about its size, M and A its aspect ratio: ``dataset.band_shape_problem``)."""
    for name, arr in (("RGB", rgb), ("P", p), ("M", m), ("A", a)):
        bad = non_finite_count(arr)
        if bad:
            raise DstlError(f"image {image_id}: {name} has {bad} NaN/inf pixel(s)")
        problem = name != "RGB" and band_shape_problem(name, arr.shape, rgb.shape)
        if problem:
            raise DstlError(f"image {image_id}: {problem}")


def align_image(rgb, p, m, a, image_id: str = "", options: AlignOptions | None = None):
    """Align P, M, A to RGB and upscale them: (stack uint16 (20, H, W), alignment dict).

    ``rgb`` (3, H, W), ``p`` (h, w), ``m`` and ``a`` (8, h, w); any numeric dtype (the
    DSTL TIFFs are uint16). See the module docstring for the conventions. ValueError for
    arrays of the wrong dimensions, DstlError for NaN / inf or mismatched band shapes.
    """
    opts = options or AlignOptions()
    check_shapes(rgb, p, m, a)
    check_bands(rgb, p, m, a, image_id)
    alignment = estimate_alignment(rgb, p, m, a, image_id, opts)
    stack = assemble_stack(rgb, p, m, a, alignment, opts.resample)
    return stack, alignment
