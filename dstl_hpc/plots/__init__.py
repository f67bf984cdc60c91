"""The report's figures and tables, and quick looks at one image (matplotlib, Agg).

Every figure is written at a fixed size (``figsize`` x ``DPI``, no tight bounding
box), so its pixel size is known in advance: training curves 1000 x 400,
threshold sweeps 640 x 400, the score bar chart 800 x 450, overlays 800 px wide.

* ``figures``: ``training_curves`` (per group, loss and validation pixel Jaccard per
  epoch) and ``sweep_curves`` (per class, polygon Jaccard on the validation images
  against the threshold).
* ``overlays``: ``overlays`` (one image's RGB with truth and predicted polygons, per
  class group; the image's polygon Jaccard and the share of the image each covers).
* ``tables``: ``score_table`` + ``write_table_csv/html`` + ``score_bars``: the
  per-class validation (or test) scores with the chosen thresholds, against the
  all-zero baseline; every score labelled with its metric (polygon or pixel Jaccard),
  kind (held out or tuned) and images (``dstl_hpc.scoring.labels``).
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
    cover_share,
    names_of,
    stretch,
)
from dstl_hpc.plots.figures import (
    read_metrics,
    sweep_curves,
    sweep_figure,
    training_curves,
    training_figures,
)
from dstl_hpc.plots.overlays import OVERLAY_WIDTH_PX, overlay_figures, overlays
from dstl_hpc.plots.show import show, show_figure
from dstl_hpc.plots.tables import (
    BASELINE_NOTE,
    baseline_note,
    score_bars,
    score_bars_figure,
    score_table,
    table_columns,
    write_table_csv,
    write_table_html,
)

__all__ = [
    "BASELINE_NOTE",
    "BOTH_COLOUR",
    "DPI",
    "OVERLAY_WIDTH_PX",
    "PRED_COLOUR",
    "TRUTH_COLOUR",
    "baseline_note",
    "class_label",
    "cover_share",
    "overlay_figures",
    "overlays",
    "names_of",
    "read_metrics",
    "score_bars",
    "score_bars_figure",
    "score_table",
    "show",
    "show_figure",
    "stretch",
    "sweep_curves",
    "sweep_figure",
    "table_columns",
    "training_curves",
    "training_figures",
    "write_table_csv",
    "write_table_html",
]
