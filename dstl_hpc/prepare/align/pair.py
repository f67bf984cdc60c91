"""One band aligned to a reference made of other bands (:func:`align_pair`).

``reference="grey"``: the reference is the mean of the reference bands.
``reference="fit"``: their least-squares combination that best matches the band
(:func:`dstl_hpc.prepare.align.reference.fit_weights`), fitted again ``refit`` times at the
shift found. A degenerate fit falls back to the mean. A band larger than
``FIT_COARSE_SIDE`` px (P) is fitted and aligned on an area-downsampled copy first.
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.prepare.align.estimate import estimate_shift
from dstl_hpc.prepare.align.options import AlignmentFailed, AlignOptions
from dstl_hpc.prepare.align.pixels import coarse_shape, grey, shrink, upscale_shift
from dstl_hpc.prepare.align.reference import combine, fit_weights

FIT_COARSE_SIDE = 1024  # larger bands are fitted on a downsampled copy first


def _try(ref, mov, opts: AlignOptions, reasons: list[str], what: str, init=None):
    """estimate_shift, or None with the reason appended to ``reasons``."""
    try:
        return estimate_shift(ref, mov, opts, init)
    except AlignmentFailed as exc:
        reasons.append(f"{what}: {exc}")
        return None


def _try_grey(channels, target, opts: AlignOptions, reasons: list[str], what: str):
    """Align ``target`` to the plain mean of ``channels``."""
    return _try(grey(np.stack(channels)), target, opts, reasons, what + " (grey)")


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


def _coarse_fit(channels, target, opts: AlignOptions, reasons: list[str], what: str):
    """A band larger than ``FIT_COARSE_SIDE``: fitted and aligned on area-downsampled
    copies, then one ECC run at full resolution with the final weights, from the scaled
    shift. None for a smaller band or when either step fails."""
    f, small = coarse_shape(target.shape, FIT_COARSE_SIDE)
    if f <= 1:
        return None
    small_channels = [shrink(c, small) for c in channels]
    small_target = shrink(target, small)
    coarse, weights = _fit_pair(small_channels, small_target, opts, reasons, f"{what} at 1/{f}")
    if coarse is None:
        return None
    init = upscale_shift(coarse, small, target.shape)
    return _try(combine(channels, weights), target, opts, reasons, what + " (fit)", init=init)


def align_pair(channels, target, opts: AlignOptions, reasons: list[str], what: str):
    """(dx, dy, cc) of ``target`` against the grey (mean) or fitted combination of
    ``channels``, or None with the reasons appended to ``reasons`` (each named ``what``).
    """
    if opts.reference == "grey":
        return _try_grey(channels, target, opts, reasons, what)
    result = _coarse_fit(channels, target, opts, reasons, what)
    if result is None:
        result, _ = _fit_pair(channels, target, opts, reasons, what)
    if result is None:  # a degenerate fit: the plain mean may still do
        result = _try_grey(channels, target, opts, reasons, what)
    return result
