"""Best checkpoints: per class, the epoch that validated best, and its weights.

A training with validation images keeps, after each epoch, a copy of the weights for
every class whose validation Jaccard reached its best so far (above 0; the latest
epoch of a tie), and writes them into the model file (``best``: class -> epoch and
Jaccard, or None for a class that never scored above 0, which keeps the last weights;
``best_states``: epoch -> weights). A training without validation (the ``all``
variant) can be told which epochs to keep (``train --select-from`` the validation
variant's metrics CSV): it then trains as many epochs as the latest of them and keeps
those. ``dstl-hpc predictor --checkpoint best`` predicts each class with its epoch.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular


def _score(value) -> float | None:
    if value in (None, ""):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def best_epochs(rows, classes) -> dict[int, tuple[int, float]]:
    """class -> (epoch, Jaccard) of its highest validation Jaccard (``jaccard_{k}`` of
    metrics rows, epochs 1-based; the latest of ties, the more trained). Classes never
    scored above 0 (no validation, no truth in the validation images, or nothing
    found yet) are left out: they keep the last epoch's weights."""
    best: dict[int, tuple[int, float]] = {}
    for row in rows:
        for k in classes:
            j = _score(row.get(f"jaccard_{k}"))
            if j is not None and j > 0 and (k not in best or j >= best[k][1]):
                best[k] = (int(row["epoch"]), j)
    return best


def read_best_epochs(path, classes) -> dict[int, int]:
    """class -> best epoch, from a metrics CSV (``dstl-hpc train --metrics``); {} when
    no class ever scored above 0 (each keeps the last weights). A CSV of a training
    without validation (no ``valid_loss``, no Jaccard in any row) is refused."""
    path = Path(path)
    check_regular(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [
            c
            for c in ("epoch", *(f"jaccard_{k}" for k in classes))
            if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise DstlError(
                f"{path}: no column(s) {', '.join(missing)} (a metrics CSV of these classes?)"
            )
        rows = list(reader)
    scored = ("valid_loss", *(f"jaccard_{k}" for k in classes))
    if not any(row.get(c) not in (None, "") for row in rows for c in scored):
        raise DstlError(f"{path}: no validation Jaccard to choose epochs from")
    return {k: e for k, (e, _) in best_epochs(rows, classes).items()}


class BestStates:
    """The weights kept at the best epochs of a training. ``want`` (class -> epoch):
    keep these epochs (chosen on another training's validation); None: keep the best
    so far of this training's own validation."""

    def __init__(self, classes, want: dict[int, int] | None = None):
        self.classes = [int(k) for k in classes]
        self.want = dict(want) if want is not None else None
        self.best: dict[int, tuple[int, float | None]] = {}
        self.states: dict[int, dict] = {}

    def after_epoch(self, epoch: int, row: dict, model) -> None:
        """Keep the weights of ``epoch`` (1-based) for the classes it is best for."""
        if self.want is not None:
            chosen = {
                k: (epoch, _score(row.get(f"jaccard_{k}")))
                for k, e in self.want.items()
                if e == epoch
            }
        else:
            now = best_epochs([row], self.classes)
            chosen = {k: v for k, v in now.items() if k not in self.best or v[1] >= self.best[k][1]}
        if not chosen:
            return
        self.best.update(chosen)
        self.states[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        kept = {e for e, _ in self.best.values()}
        self.states = {e: s for e, s in self.states.items() if e in kept}

    def state(self) -> dict:
        """For the resumable checkpoint."""
        return {"best": {k: list(v) for k, v in self.best.items()}, "states": self.states}

    def load(self, state: dict | None) -> None:
        if state:
            self.best = {int(k): (int(v[0]), v[1]) for k, v in state["best"].items()}
            self.states = {int(e): s for e, s in state["states"].items()}

    def meta(self) -> dict:
        """What the model file holds: ``best`` (every class: its epoch and Jaccard, or
        None when it has none: it keeps the last weights) and ``best_states``."""
        best = {k: {"epoch": v[0], "jaccard": v[1]} for k, v in self.best.items()}
        return {
            "best": {str(k): best.get(k) for k in sorted(self.classes)},
            "best_states": {str(e): s for e, s in sorted(self.states.items())},
        }
