"""The report's figures and tables, and quick looks at one image (matplotlib, Agg).

Every figure is written at a fixed size (``figsize`` x ``DPI``, no tight bounding
box), so its pixel size is known in advance: training curves 1000 x 400,
threshold sweeps 640 x 400, the score bar chart 800 x 450, overlays 800 px wide.

* ``figures``: ``training_curves`` (per group, loss and validation Jaccard per
  epoch), ``sweep_curves`` (per class, polygon Jaccard against the threshold) and
  ``overlays`` (one image's RGB with truth and predicted polygons, per class group).
* ``tables``: ``score_table`` + ``write_table_csv/html`` + ``score_bars``: the
  per-class validation (or test) scores with the chosen thresholds, against the
  all-zero baseline.
* ``show``: ``dstl-hpc show``, one image's RGB (and false colour NIR), masks and
  predictions.
* ``common``: colours, class names (``names_of``: the run's ``classes.json``, else the
  DSTL classes), matplotlib on first use, image stretch.

Pixel convention as everywhere (``dstl_hpc.prepare.raster``): pixel (r, c) covers
``[c, c+1) x [r, r+1)``, so images are drawn with ``extent=(0, W, H, 0)`` and
polygons in pixel coordinates lie on them exactly. Torch is never imported, and
matplotlib and pandas only when a figure or table is made.
"""

from dstl_hpc.plots.common import (
    BOTH_COLOUR,
    DPI,
    PRED_COLOUR,
    TRUTH_COLOUR,
    class_label,
    names_of,
    stretch,
)
from dstl_hpc.plots.figures import (
    OVERLAY_WIDTH_PX,
    overlays,
    read_metrics,
    sweep_curves,
    training_curves,
)
from dstl_hpc.plots.show import show
from dstl_hpc.plots.tables import (
    BASELINE_NOTE,
    TABLE_COLUMNS,
    baseline_note,
    score_bars,
    score_table,
    write_table_csv,
    write_table_html,
)

__all__ = [
    "BASELINE_NOTE",
    "BOTH_COLOUR",
    "DPI",
    "OVERLAY_WIDTH_PX",
    "PRED_COLOUR",
    "TABLE_COLUMNS",
    "TRUTH_COLOUR",
    "baseline_note",
    "class_label",
    "overlays",
    "names_of",
    "read_metrics",
    "score_bars",
    "score_table",
    "show",
    "stretch",
    "sweep_curves",
    "training_curves",
    "write_table_csv",
    "write_table_html",
]
