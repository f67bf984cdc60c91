"""How a run's images are cut into jobs: predict parts, polygon parts, align parts.

``Parts`` is a part of :class:`dstl_hpc.config.plan.Plan` (a mixin): it reads the
plan's ids (``predict_ids``, ``all_ids``), its config (``_top``), its source (``geo``)
and its results paths (``paths``, :class:`dstl_hpc.config.results.ResultsPaths`).
"""

from __future__ import annotations

from dstl_hpc.errors import DstlError


class Parts:
    """The jobs' parts of a :class:`~dstl_hpc.config.plan.Plan`."""

    # ------------------------------------------------------------- chunks
    @property
    def images_per_job(self) -> int:
        return int(self._top("images_per_job"))

    def n_parts(self, variant: str) -> int:
        n = len(self.predict_ids(variant))
        return (n + self.images_per_job - 1) // self.images_per_job

    def part_ids(self, variant: str, part: int) -> list[str]:
        """The images of one predict / polygon job: consecutive predict ids."""
        ids = self.predict_ids(variant)
        size = self.images_per_job
        if not 0 <= part < self.n_parts(variant):
            raise DstlError(f"{variant}: no part {part} (there are {self.n_parts(variant)})")
        return ids[part * size : (part + 1) * size]

    @property
    def polygon_parts_per_job(self) -> int:
        """Predict parts per polygonize job: ``polygon_images_per_job`` in whole predict
        parts (rounded down, at least one). Polygons are cheap, so their jobs may be coarser."""
        images = int(self._top("polygon_images_per_job") or self.images_per_job)
        return max(1, images // self.images_per_job)

    def n_polygon_parts(self, variant: str) -> int:
        size = self.polygon_parts_per_job
        return (self.n_parts(variant) + size - 1) // size

    def polygon_predict_parts(self, variant: str, part: int) -> list[int]:
        """The predict parts whose probabilities one polygonize job turns into polygons."""
        if not 0 <= part < self.n_polygon_parts(variant):
            n = self.n_polygon_parts(variant)
            raise DstlError(f"{variant}: no polygon part {part} (there are {n})")
        size = self.polygon_parts_per_job
        return list(range(part * size, min((part + 1) * size, self.n_parts(variant))))

    # ------------------------------------------------------- align parts
    @property
    def align_images_per_job(self) -> int:
        """Images per align job (geo: chips per geo-chips job)."""
        if self.geo is not None:
            return int(self.geo.data["chips_per_job"])
        return int(self._top("align_images_per_job"))

    def n_align_parts(self) -> int:
        size = self.align_images_per_job
        return (len(self.all_ids) + size - 1) // size

    def align_part_ids(self, part: int) -> list[str]:
        """The images of one align job: consecutive ids of ``all_ids`` (training first)."""
        if not 0 <= part < self.n_align_parts():
            raise DstlError(f"align: no part {part} (there are {self.n_align_parts()})")
        size = self.align_images_per_job
        return self.all_ids[part * size : (part + 1) * size]

    def align_part_of(self, image: str) -> int:
        if not hasattr(self, "_align_part"):
            size = self.align_images_per_job
            self._align_part = {i: n // size for n, i in enumerate(self.all_ids)}
        try:
            return self._align_part[image]
        except KeyError:
            raise DstlError(f"{image}: not an image id of this dataset") from None

    def stack_dir(self, part: int) -> str:
        """The align job output holding the stacks of one part."""
        return self.paths.stacks(part)

    def stack_file(self, image: str) -> str:
        return self.paths.stack(self.align_part_of(image), image)

    def mask_dir(self, part: int) -> str:
        """The geo-chips job output holding the masks of one part's labelled chips."""
        return self.paths.masks(part)

    def mask_inputs(self, ids) -> list[str]:
        """What a training reads the masks of ``ids`` from: DSTL, one file per image;
        geo, the part folders of geo-chips."""
        if self.geo is not None:
            return [self.mask_dir(p) for p in sorted({self.align_part_of(i) for i in ids})]
        return [self.paths.mask(i) for i in ids]

    def stack_dirs(self, ids) -> list[str]:
        """The align outputs that hold the stacks of ``ids``, in part order."""
        return [self.stack_dir(p) for p in sorted({self.align_part_of(i) for i in ids})]
