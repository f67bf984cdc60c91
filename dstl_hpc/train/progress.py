"""What a person sees of a training: progress within an epoch, a line per epoch, and
the metrics CSV (one row per epoch, rewritten whole after each)."""

from __future__ import annotations

import csv
import io
import logging
import math
import sys
import time

from dstl_hpc.atomic import write_text

log = logging.getLogger("dstl_hpc.train")


class Progress:
    """An epoch's progress: a tqdm bar on a terminal; elsewhere (a SLURM log) a log line
    every ``every`` seconds with the batches done, loss, patches/s and the epoch's ETA,
    so that a person can follow a long epoch long before it ends."""

    def __init__(self, total: int, first: int, label: str, tty: bool, every: float):
        self.total, self.first, self.label, self.every = total, first, label, every
        self.start = self.last = time.monotonic()
        self.bar = None
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=first, desc=label, unit="batch", leave=False, file=sys.stderr
            )

    def update(self, done: int, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} {rate:.0f} patches/s", refresh=False)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < self.every or done >= self.total:
            return
        self.last = now
        per_batch = (now - self.start) / max(1, done - self.first)
        eta = per_batch * (self.total - done)
        log.info(
            "%s: batch %d/%d loss %.4f %.1f patches/s, epoch ETA %s",
            self.label,
            done,
            self.total,
            loss,
            rate,
            time.strftime("%H:%M:%S", time.gmtime(eta)),
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def log_epoch(row: dict, epochs: int, classes, validated: bool, rate: float) -> None:
    """The line of an epoch done: losses, learning rate, Jaccard per class, speed, time."""
    jacc = " ".join(f"{c}:{_fmt(row.get(f'jaccard_{c}'), '.4f') or '-'}" for c in classes)
    log.info(
        "epoch %d/%d loss %.4f%s lr %.3g%s %.1f patches/s %.1f s",
        row["epoch"],
        epochs,
        row["train_loss"],
        f" valid_loss {row['valid_loss']:.4f}" if "valid_loss" in row else "",
        row["lr"],
        f" jaccard {jacc} mean {_fmt(row.get('mean_jaccard'), '.4f') or '-'}" if validated else "",
        rate,
        row["seconds"],
    )


def metrics_columns(classes) -> list[str]:
    return (
        ["epoch", "steps", "lr", "train_loss", "valid_loss", "seconds"]
        + [f"jaccard_{k}" for k in classes]
        + ["mean_jaccard"]
    )


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, spec)


def write_metrics(path, rows: list[dict], classes) -> None:
    """The metrics CSV, rewritten whole and atomically."""
    cols = metrics_columns(classes)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        out = []
        for c in cols:
            v = r.get(c)
            if c in ("epoch", "steps"):
                out.append("" if v is None else str(int(v)))
            elif c == "lr":
                out.append(_fmt(v, ".6g"))
            elif c == "seconds":
                out.append(_fmt(v, ".2f"))
            else:
                out.append(_fmt(v, ".6f"))
        w.writerow(out)
    write_text(path, buf.getvalue())
