"""A synthetic dataset in the exact DSTL layout (``dstl-hpc synth``).

Every image is a small landscape drawn from polygons in RGB pixel coordinates:
fields with crop rows, woodland, tree clumps and hedgerows, a meandering river,
ponds, roads with side streets, winding tracks, buildings (rotated, L-shaped, with
courtyards), sheds and fences, and vehicles on the roads and beside the houses.

The rooms, in the order an image goes through them:

- :mod:`.image`: which classes each image holds (:func:`presence_plan`), its scene
  (:func:`build_scene`), labels, rendering and bands (:func:`make_image`);
- :mod:`.scene`: the :class:`~.scene.Scene` and what laying one out shares;
  :mod:`.land` (fields, river, ponds, tracks, trees) and :mod:`.built` (roads,
  buildings, structures, vehicles) lay out one kind of feature each, with the
  geometry of :mod:`.shapes`;
- :mod:`.labels`: exclusive class polygons and their grid WKT, which lies within
  the image's grid (0 <= x <= Xmax, Ymin <= y <= 0) as in the real data;
- :mod:`.render`: material and brightness per pixel, painted from the labels read
  back from that WKT, so that the masks a later step rasterises from
  ``train_wkt_v4.csv`` are the pixels that were drawn; :mod:`.materials` holds the spectra;
- :mod:`.bands`: band sizes, calibration to the real data's statistics, and the
  known sub-pixel displacement of P, M and A recorded in ``synth_truth.json``;
- :mod:`.write`: the files, written into a folder that replaces ``OUT_DIR`` only
  once complete (:func:`generate`).

Sizes: small objects are measured in "units" of ``object_unit`` pixels (1 up to
1000 px images, so the default 384 px images get ~6 x 3 px lorries and ~3 x 2 px
cars; a real-size 3348 x 3392 image gets a unit of ~3.4 px, close to the real
0.3 m pixels). Fields, woodland, rivers and lakes scale with the image.
"""

from dstl_hpc.sources.synthetic.bands import (
    BAND_FACTORS,
    OFFSET_LIMITS,
    REAL_MEAN,
    REAL_STD,
    band_shape,
    displace,
    draw_offset,
)
from dstl_hpc.sources.synthetic.image import SynthImage, build_scene, make_image, presence_plan
from dstl_hpc.sources.synthetic.labels import EMPTY_WKT, OVERLAYS, PRIORITY, scene_labels
from dstl_hpc.sources.synthetic.scene import Scene, object_unit
from dstl_hpc.sources.synthetic.write import (
    DEFAULT_IMAGES,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    DEFAULT_TRAIN,
    TEST_WKT_FILE,
    TRUTH_FILE,
    SynthOptions,
    generate,
)

__all__ = [
    "BAND_FACTORS",
    "DEFAULT_IMAGES",
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "DEFAULT_TRAIN",
    "EMPTY_WKT",
    "OFFSET_LIMITS",
    "OVERLAYS",
    "PRIORITY",
    "REAL_MEAN",
    "REAL_STD",
    "TEST_WKT_FILE",
    "TRUTH_FILE",
    "Scene",
    "SynthImage",
    "SynthOptions",
    "band_shape",
    "build_scene",
    "displace",
    "draw_offset",
    "generate",
    "make_image",
    "object_unit",
    "presence_plan",
    "scene_labels",
]
