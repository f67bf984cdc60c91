"""What each score of a scores JSON is, in words: which metric, where its thresholds
were chosen, and on which images.

The report's table and bar chart (``dstl_hpc.plots.tables``), the other figures and
``dstl-hpc summary`` take their labels from here, so that no figure or table puts two
scores side by side without saying which is which:

* **polygon Jaccard**: the competition's metric, the intersection and union areas of
  the polygons summed over the images; **pixel Jaccard**: the same polygons
  rasterised (pixels);
* **held out**: the thresholds were chosen without the scored images (validation: on
  the *other* validation images, leave one image out; test: on the validation images;
  or fixed in the configuration);
* **tuned**: the thresholds were chosen on the scored images themselves (optimistic);
* **as scored**: the file does not say (a hand run of ``score`` without ``--sweeps``).

Standard library only: ``dstl-hpc summary`` imports it.
"""

from __future__ import annotations

from typing import NamedTuple

POLYGON = "polygon Jaccard"
PIXEL = "pixel Jaccard"
HELD_OUT, TUNED, AS_SCORED = "held out", "tuned", "as scored"


class Score(NamedTuple):
    """One score of a scores JSON: its keys, metric, kind and where its thresholds
    come from."""

    key: str  # per-class key of the scores JSON
    mean_key: str
    metric: str  # POLYGON or PIXEL
    kind: str  # HELD_OUT, TUNED or AS_SCORED
    thresholds: str  # where the thresholds come from, in words

    @property
    def label(self) -> str:
        """Such as "polygon Jaccard, held out"."""
        return f"{self.metric}, {self.kind}"

    @property
    def column(self) -> str:
        """The CSV column, such as ``polygon_jaccard_held_out``."""
        return f"{self.metric.split()[0]}_jaccard_{self.kind.replace(' ', '_')}"


def image_set(ids, split: str, limit: int = 3) -> str:
    """ "2 validation images: 6010_1_1, 6010_1_2" (the first ``limit`` ids, then how
    many more); "the validation images" when the ids are not known."""
    ids = [str(i) for i in ids or []]
    if not ids:
        return f"the {split} images"
    noun = f"{len(ids)} {split} image{'' if len(ids) == 1 else 's'}"
    shown = ", ".join(ids[:limit])
    more = f", ... ({len(ids) - limit} more)" if len(ids) > limit else ""
    return f"{noun}: {shown}{more}"


def score_kinds(scores: dict, split: str, all_fixed: bool = False) -> list[Score]:
    """The scores a scores JSON holds, labelled: the polygon Jaccard of ``per_class``,
    the tuned one (``per_class_tuned``) when there is one, and the pixel Jaccard when
    there is one.

    ``split``: "validation" or "test" (the thresholds of the test scores are chosen on
    the validation images). ``all_fixed``: every class's threshold is fixed in the
    configuration (nothing was tuned, so validation scores without a tuned twin are
    held out too).
    """
    tuned = scores.get("per_class_tuned") is not None
    if split == "test":
        kind, why = HELD_OUT, "thresholds chosen on the validation images"
    elif tuned:
        kind, why = HELD_OUT, f"thresholds chosen on the other {split} images, leave one out"
    elif all_fixed:
        kind, why = HELD_OUT, "thresholds fixed in the configuration"
    else:
        kind, why = AS_SCORED, "the scored polygons' thresholds, not said to be held out"
    out = [Score("per_class", "mean", POLYGON, kind, why)]
    if tuned:
        tuned_why = f"thresholds chosen on these {split} images: optimistic"
        out.append(Score("per_class_tuned", "mean_tuned", POLYGON, TUNED, tuned_why))
    if scores.get("pixel_per_class") is not None:
        # the pixel Jaccard rasterises the scored polygons: tuned when thresholds were
        pixel_kind, pixel_why = (TUNED, tuned_why) if tuned else (kind, why)
        out.append(Score("pixel_per_class", "pixel_mean", PIXEL, pixel_kind, pixel_why))
    return out
