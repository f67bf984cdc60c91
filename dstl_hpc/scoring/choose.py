"""Which group predicts a class, chosen on validation.

A class may be in several groups (candidates: other settings, an ensemble, an index
model such as ndwi for water). Each candidate's validation predictions are swept
(``dstl-hpc sweep``); the candidate with the best held-out score (each validation
image scored at the threshold chosen on the others, ``sweep.held_out``) feeds the
class's polygons. Ties go to the candidate listed first. The choice is made on the
same images its held-out score is then reported on, so that score flatters the
chosen candidate a little (a choice among few candidates: a small bias).
"""

from __future__ import annotations

from dstl_hpc.errors import DstlError
from dstl_hpc.scoring.sweep import held_out


def choose(class_type: int, candidates: dict[str, dict]) -> dict:
    """The chosen candidate's sweep dict, with ``group`` (the chosen one) and
    ``group_scores`` (group -> held-out score, None when it cannot be held out)."""
    if not candidates:
        raise DstlError(f"class {class_type}: no candidate sweeps")
    scores, ranks = {}, {}
    for group, result in candidates.items():
        if int(result.get("class", class_type)) != int(class_type):
            raise DstlError(
                f"{group}: its sweep is of class {result.get('class')}, not {class_type}"
            )
        ho = held_out(result)
        scores[group] = ho["score"]
        # None: held out, but no truth and nothing predicted on the images (a perfect
        # score, as in the sweep), or nothing to hold out from (fewer than 2 images: last)
        undefined = 1.0 if ho["thresholds"] else -1.0
        ranks[group] = undefined if ho["score"] is None else ho["score"]
    # the best held-out score; the first on ties
    names = list(scores)
    best = max(names, key=lambda g: (ranks[g], -names.index(g)))
    return {**candidates[best], "group": best, "group_scores": scores}
