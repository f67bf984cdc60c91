"""Each job's memory, estimated before any job and compared with what the job gets.

A config whose images cannot fit (``synthetic.size: [40000, 40000]``, a training with
``in_memory: true`` over more images than its ``mem_mb``) is refused at ``snakemake
-n`` in one line naming the key, the estimate and the limit, instead of failing hours
later. The estimates are ``dstl_hpc.memory``'s footprints (one place for the
formulas); the sizes of the images are the config's (synthetic), the RGB TIFF headers
(DSTL) or the chip side (geo). A job gets its rule's ``mem_mb``; a local run
(``machine`` given) at most this machine's memory as well.

The synth and stats rules fix their ``mem_mb`` in the rule (``FIXED_MEM_MB``; a test
keeps the two equal); align and masks take ``resources.<step>.mem_mb``, train and
predict their group's ``train_resources`` / ``predict_resources``. Cheap: no numpy
unless DSTL TIFF headers are read.
"""

from __future__ import annotations

from typing import NamedTuple

from dstl_hpc.config.groups import train_processes
from dstl_hpc.errors import DstlError
from dstl_hpc.memory import (
    ALIGN,
    MASKS,
    STATS,
    SYNTH,
    SYNTH_MOSAIC_PER_PX,
    Footprint,
    predict_footprint,
    train_footprint,
)

# The mem_mb the rules fix (workflow/rules/data.smk: synth; train.smk: stats).
FIXED_MEM_MB = {"synth": 4000, "stats": 2000}
MB = 2**20  # Snakemake's and SLURM's mem_mb are MiB


class Need(NamedTuple):
    """One kind of job's estimated peak and the memory it gets."""

    step: str
    key: str  # the config key that makes it large
    subject: str  # e.g. "[40000, 40000] px images"
    footprint: Footprint
    pixels: int
    mem_mb: int
    limit_key: str  # where mem_mb comes from

    @property
    def bytes(self) -> int:
        return self.footprint.bytes(self.pixels)


def image_sizes(plan) -> tuple[str, dict[str, tuple[int, int]]]:
    """(the config key that sets them, image id -> (H, W)) of every image of the plan."""
    if plan.geo is not None:
        side = plan.geo.size
        return "data.chip_size", dict.fromkeys(plan.all_ids, (side, side))
    if plan.synthetic:
        h, w = plan.synth["size"]
        # the first image is H x W, the others up to 2 x 3 px larger (dstl-hpc synth)
        return "synthetic.size", dict.fromkeys(plan.all_ids, (int(h) + 2, int(w) + 3))
    from dstl_hpc.sources.dstl.images import image_size

    return "data.dir", {i: image_size(plan.layout, i) for i in plan.all_ids}


def _subject(key: str, plan, sizes: dict, ids) -> tuple[str, int]:
    """Words for the largest of ``ids``, and its pixels."""
    h, w = max((sizes[i] for i in ids), key=lambda s: s[0] * s[1])
    if key == "synthetic.size":
        return f"{plan.synth['size']} px images", h * w
    if key == "data.chip_size":
        return f"chips of {h} x {w} px", h * w
    return f"images of up to {h} x {w} px", h * w


def _synth_pixels(plan, tile: int) -> tuple[Footprint, int]:
    if not plan.synth.get("mosaic"):
        return SYNTH, tile
    # a mosaic scene's tiles are cut from one landscape of its rows x cols of tiles
    tiles: dict[str, tuple[int, int]] = {}
    for i in plan.all_ids:
        scene, row, col = i.split("_")
        r, c = tiles.get(scene, (0, 0))
        tiles[scene] = (max(r, int(row) + 1), max(c, int(col) + 1))
    n = max(r * c for r, c in tiles.values())
    per_px = SYNTH.per_px + SYNTH_MOSAIC_PER_PX * n
    what = f"{SYNTH.what}, and the landscape of {n} tiles it is cut from"
    return Footprint(SYNTH.base, per_px, what), tile


def job_needs(plan) -> list[Need]:
    """Every kind of job whose memory grows with the images, in pipeline order."""
    key, sizes = image_sizes(plan)
    needs = []
    if plan.geo is None:
        subject, px = _subject(key, plan, sizes, plan.all_ids)
        if plan.synthetic:
            fp, px_s = _synth_pixels(plan, px)
            needs.append(
                Need("synth", key, subject, fp, px_s, FIXED_MEM_MB["synth"], "mem_mb of rule synth")
            )
        align = plan.step_resources("align")["mem_mb"]
        needs.append(Need("align", key, subject, ALIGN, px, align, "resources.align.mem_mb"))
        subject, px = _subject(key, plan, sizes, plan.train_ids)
        masks = plan.step_resources("masks")["mem_mb"]
        needs.append(Need("masks", key, subject, MASKS, px, masks, "resources.masks.mem_mb"))
        stats = FIXED_MEM_MB["stats"]
        needs.append(Need("stats", key, subject, STATS, px, stats, "mem_mb of rule stats"))
    for group, g in plan.groups.items():
        inputs = int(g.get("n_channels", 12)) + len(g.get("indices") or [])
        n_classes = len(g["classes"])
        if plan.units(group) and g.get("in_memory") is True:
            planes = inputs + n_classes + (1 if plan.geo is not None else 0)
            ids = plan.train_ids
            loaded = sum(sizes[i][0] * sizes[i][1] for i in ids)
            res = plan.resources(group, "train")
            fp = train_footprint(planes, plan.asks_gpu(group, "train"), train_processes(res))
            mem = res["mem_mb"]
            subject = f"{len(ids)} training images ({loaded / 1e6:.0f} Mpx)"
            where = f"groups.{group}.train_resources.mem_mb"
            needs.append(
                Need("train", f"groups.{group}.in_memory", subject, fp, loaded, mem, where)
            )
        predicted = [i for v in plan.variants for i in plan.predict_ids(v)]
        if predicted:
            subject, px = _subject(key, plan, sizes, predicted)
            fp = predict_footprint(inputs, n_classes, plan.asks_gpu(group, "predict"))
            mem = plan.resources(group, "predict")["mem_mb"]
            where = f"groups.{group}.predict_resources.mem_mb"
            needs.append(Need("predict", key, subject, fp, px, mem, where))
    return needs


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_job_memory(plan, machine: tuple[int, str] | None = None) -> list[Need]:
    """DstlError for the first kind of job whose estimate exceeds its ``mem_mb`` (or,
    ``machine`` given: a local run, this machine's memory); returns the needs."""
    needs = job_needs(plan)
    for n in needs:
        limit, words = n.mem_mb * MB, f"its jobs get ({n.limit_key}: {n.mem_mb})"
        if machine is not None and machine[0] < limit:
            limit, words = machine[0], f"this machine has ({machine[1]}; a local run)"
        if n.bytes > limit:
            raise DstlError(
                f"config {n.key}: {n.subject} need about {_gib(n.bytes)} per {n.step} job "
                f"({n.footprint.what}, plus {_gib(n.footprint.base)}), more than the "
                f"{_gib(limit)} {words}"
            )
    return needs
