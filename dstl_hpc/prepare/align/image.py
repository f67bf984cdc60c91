"""One image: P, M and A aligned to RGB (:func:`align_image`), the 20-channel stack.

Pairs, ``reference="grey"`` (the original solution): P -> RGB grey (mean of R, G, B);
M (mean of M1..M3) -> RGB grey; A1 -> M8 after M's alignment (RGB grey when that
fails). ``reference="fit"`` (default): the reference is the least-squares combination
of the reference bands (R, G, B for P and M; M1..M8 for A) that best matches the band
(:func:`dstl_hpc.prepare.align.reference.fit_reference`), fitted again once at the shift found
(``refit``), and A is aligned as the mean of A1..A8. The bands see different spectra
(P spans red edge and NIR, A is SWIR): on synthetic data this cuts P's error 3-5x and
A's 5-10x (see ``benchmarks/align.py``). A is compared with M's bands area-resized to
A's size without warping them first; M's shift is added to the result, which is the
same as aligning to the warped M minus one interpolation. ``a_reference="rgb"`` aligns
A to R, G, B directly (worse on synthetic data).

A band that cannot be aligned is kept unaligned (dx = dy = 0, cc None, converged
false) with a warning naming the image and the band.
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.prepare.align.options import AlignOptions, log
from dstl_hpc.prepare.align.pair import align_pair
from dstl_hpc.prepare.align.pixels import grey, resized
from dstl_hpc.prepare.align.resample import resample_band
from dstl_hpc.sources.dstl import CHANNELS, band_shape_problem, non_finite_count


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


def _align_a(rgb, m, a, m_shift, opts: AlignOptions, reasons: list[str]):
    """A -> M after M's alignment (M's shift added), or -> RGB: (dx, dy, cc) or None."""
    method = opts.ref_resize
    hm, wm = m.shape[1:]
    ha, wa = a.shape[1:]
    # the reference solution ("grey"): A1 to M8, or to RGB grey; else the mean of
    # A1..A8 to a combination of M1..M8, or of R, G, B
    target = a[0] if opts.reference == "grey" else grey(a)
    r = None
    if opts.a_reference == "m" and m_shift is not None:
        m_bands = m[7:8] if opts.reference == "grey" else m
        r = align_pair(resized(m_bands, (ha, wa), method), target, opts, reasons, "A to M")
        if r is not None:
            r = (r[0] + m_shift[0] * wa / wm, r[1] + m_shift[1] * ha / hm, r[2])
    if r is None:
        r = align_pair(resized(rgb, (ha, wa), method), target, opts, reasons, "A to RGB")
    return r


def estimate_alignment(rgb, p, m, a, image_id: str = "", options: AlignOptions | None = None):
    """The alignment dict {"P"|"M"|"A": {"dx", "dy", "cc", "converged"}} of one image."""
    opts = options or AlignOptions()
    opts.validate()
    method = opts.ref_resize
    out: dict[str, dict] = {}

    reasons: list[str] = []
    r = align_pair(resized(rgb, p.shape, method), p, opts, reasons, "P to RGB")
    _record(out, image_id, "P", r, reasons)

    reasons = []  # M (mean of M1..M3) -> RGB
    rgb_m = resized(rgb, m.shape[1:], method)
    m_shift = align_pair(rgb_m, grey(m[:3]), opts, reasons, "M1-M3 to RGB")
    _record(out, image_id, "M", m_shift, reasons)

    reasons = []
    _record(out, image_id, "A", _align_a(rgb, m, a, m_shift, opts, reasons), reasons)
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
    DSTL TIFFs are uint16). See :mod:`dstl_hpc.prepare.align` for the conventions. ValueError
    for arrays of the wrong dimensions, DstlError for NaN / inf or mismatched band shapes.
    """
    opts = options or AlignOptions()
    check_shapes(rgb, p, m, a)
    check_bands(rgb, p, m, a, image_id)
    alignment = estimate_alignment(rgb, p, m, a, image_id, opts)
    stack = assemble_stack(rgb, p, m, a, alignment, opts.resample)
    return stack, alignment
