"""The settings of an alignment (:class:`AlignOptions`) and its failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2

# One logger for the package and ``dstl-hpc align``: its warnings name the image and band.
log = logging.getLogger("dstl_hpc.prepare.align")

ECC_ITERATIONS = 5000
ECC_EPS = 1e-8
REF_INTERP = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}


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
        if self.ref_resize not in REF_INTERP:
            raise ValueError(f"ref_resize must be one of {tuple(REF_INTERP)}")
        if self.reference not in ("fit", "grey"):
            raise ValueError("reference must be 'fit' or 'grey'")
        if self.a_reference not in ("m", "rgb"):
            raise ValueError("a_reference must be 'm' or 'rgb'")
        if self.refit < 0:
            raise ValueError("refit must be >= 0")
        if self.resample not in ("direct", "two_step"):
            raise ValueError("resample must be 'direct' or 'two_step'")
