"""The shift between two images of one shape: phase correlation, then ECC.

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
``cv2.error``, is an :class:`AlignmentFailed`; the caller then leaves the band
unaligned.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from dstl_hpc.prepare.align.options import AlignmentFailed, AlignOptions
from dstl_hpc.prepare.align.pixels import coarse_shape, shrink, unit_scale, upscale_shift

ECC_CHUNK = 10  # iterations of the first findTransformECC call (see the module docstring)
ECC_VERIFY = 5  # iterations of each further call
ECC_STABLE_PX = 1e-4  # a call that moves the translation less than this ends ECC
ECC_CYCLE_PX = 1e-2  # moves under this that stop shrinking are a limit cycle: ends ECC
GAUSS_SIDE_FRACTION = 16  # ECC pre-filter at most 1/16 of the band's smaller side
ECC_MAX_CALLS = 40  # calls (at most 10 + 39 * 5 iterations) before giving up
COARSE_SIDE = 512  # phase correlation / coarse ECC work on at most about this many px
ZERO = (0.0, 0.0)


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


def _cv_message(exc: cv2.error) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else repr(exc)
    return "ECC did not converge (" + msg.split(") ")[-1].strip(" >-") + ")"


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


def _phase_init(ref, mov, limit) -> list[tuple[float, float]]:
    """[phase correlation shift] when it is plausible, else []."""
    h, w = ref.shape
    try:
        window = cv2.createHanningWindow((w, h), cv2.CV_32F)
        # Windowed copies: OpenCV 5.0's phaseCorrelate multiplies its inputs by the
        # window in place.
        (dx, dy), _response = cv2.phaseCorrelate(ref * window, mov * window)
    except cv2.error:
        return []
    d = (float(dx), float(dy))
    return [d] if _plausible(d, limit) else []


def _from_init(ref, mov, init, opts: AlignOptions, limit):
    """ECC from a given starting point: (dx, dy, cc), or None when the starting point is
    implausible or ECC fails from it."""
    init = (float(init[0]), float(init[1]))
    if not _plausible(init, limit):
        return None
    try:
        return _first(ref, mov, [init], opts, limit)
    except AlignmentFailed:
        return None


def _search(ref, mov, opts: AlignOptions, limit) -> tuple[float, float, float]:
    """ECC from the phase correlation shift and from 0, the better correlation wins; a
    larger image than ``COARSE_SIDE`` does that on an area-downsampled copy, then ECC at
    full resolution starts from its (scaled) result, or from 0 if that fails."""
    f, small = coarse_shape(ref.shape, COARSE_SIDE)
    if f <= 1:
        return _best(ref, mov, _phase_init(ref, mov, limit) + [ZERO], opts, limit)
    r, m = shrink(ref, small), shrink(mov, small)
    small_limit = _limit(small, opts)
    try:
        sx, sy, _ = _best(r, m, _phase_init(r, m, small_limit) + [ZERO], opts, small_limit)
        inits = [upscale_shift((sx, sy), small, ref.shape), ZERO]
    except AlignmentFailed:
        inits = [ZERO]
    return _first(ref, mov, inits, opts, limit)


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

    Starting points: ``init`` when given (falling back to the search below). Without
    ``coarse``, ECC from 0; else :func:`_search`.
    """
    opts = options or AlignOptions()
    if reference.ndim != 2 or reference.shape != moving.shape:
        raise ValueError(f"need two 2-D images of one shape, got {reference.shape}, {moving.shape}")
    ref = unit_scale(reference)
    mov = unit_scale(moving)
    limit = _limit(ref.shape, opts)
    if init is not None:
        result = _from_init(ref, mov, init, opts, limit)
        if result is not None:
            return result
    if not opts.coarse:
        return _first(ref, mov, [ZERO], opts, limit)
    return _search(ref, mov, opts, limit)
