"""Align the P, M and A bands to RGB and build the 20-channel stack of one image.

Convention (the stack's ``alignment`` attribute, ``docs/contracts.md``): ``dx, dy`` is
the displacement of a band's content relative to RGB in pixels of that band. With
continuous pixel coordinates (pixel u covers [u, u + 1), its centre is u + 0.5) a
feature at RGB (x, y) appears in a band of size (h, w) at
``(x * w / W + dx, y * h / H + dy)``. ``cv2.resize`` and ``cv2.INTER_AREA`` follow the
same pixel-centre convention, so a reference resized to the band's size is the RGB
content in the band's pixel grid, and ECC's translation is directly (dx, dy).

The parts, each with its own docstring:

- :mod:`~dstl_hpc.prepare.align.options`: :class:`AlignOptions`, :class:`AlignmentFailed`;
- :mod:`~dstl_hpc.prepare.align.estimate`: the shift between two images (phase correlation,
  then ECC in chunks), :func:`estimate_shift`;
- :mod:`~dstl_hpc.prepare.align.reference`: least-squares references fitted to a band;
- :mod:`~dstl_hpc.prepare.align.pair`: one band against the grey or fitted reference;
- :mod:`~dstl_hpc.prepare.align.image`: which band aligns to which, the stack,
  :func:`align_image`;
- :mod:`~dstl_hpc.prepare.align.resample`: a band warped and upscaled to the RGB size;
- :mod:`~dstl_hpc.prepare.align.pixels`: percentile scaling, grey means, resizing.
"""

from dstl_hpc.prepare.align.estimate import estimate_shift, gauss_size
from dstl_hpc.prepare.align.image import (
    align_image,
    assemble_stack,
    check_bands,
    check_shapes,
    estimate_alignment,
)
from dstl_hpc.prepare.align.options import AlignmentFailed, AlignOptions
from dstl_hpc.prepare.align.pixels import grey, resize_to, unit_scale
from dstl_hpc.prepare.align.reference import combine, fit_reference, fit_weights
from dstl_hpc.prepare.align.resample import resample_band

__all__ = [
    "AlignOptions",
    "AlignmentFailed",
    "align_image",
    "assemble_stack",
    "check_bands",
    "check_shapes",
    "combine",
    "estimate_alignment",
    "estimate_shift",
    "fit_reference",
    "fit_weights",
    "gauss_size",
    "grey",
    "resample_band",
    "resize_to",
    "unit_scale",
]
