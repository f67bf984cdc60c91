"""The competition's metric: Jaccard per class summed over images, mean over classes.

For class k: ``J_k = sum_i area(T_ik & P_ik) / sum_i area(T_ik | P_ik)`` over the scored
images i (grid coordinates); a class whose union is empty on every scored image is
null and left out of the mean. The pixel version rasterises truth and prediction on
each image's pixel grid (``dstl_hpc.prepare.raster``) and sums pixels the same way.

Invalid input polygons (self-intersections, bow-ties) are repaired with
``make_valid`` (polygonal parts kept); scoring never fails on geometry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from dstl_hpc.errors import DstlError
from dstl_hpc.polygons import polygonal, repair
from dstl_hpc.sources import default_classes
from dstl_hpc.sources.dstl import (
    Layout,
    grid_for,
    grid_to_pixels,
    image_size,
    parse_wkt,
    read_grid_sizes,
    read_wkt_entries,
    read_wkt_lines,
    wkt_where,
)

log = logging.getLogger(__name__)


def safe_parse(wkt: str, where: str):
    """A valid MultiPolygon from WKT (repaired when invalid); DstlError naming ``where``
    when unparsable or with NaN / inf coordinates."""
    return repair(parse_wkt(wkt, where))


def _overlay_area(a, b) -> float:
    """area(a & b), robust to GEOS topology errors."""
    import shapely

    if a.is_empty or b.is_empty:
        return 0.0
    try:
        return float(shapely.intersection(a, b).area)
    except shapely.errors.GEOSException:
        a2, b2 = polygonal(a.buffer(0)), polygonal(b.buffer(0))
        try:
            return float(shapely.intersection(a2, b2).area)
        except shapely.errors.GEOSException:
            # Snap to a fine grid relative to the geometries' size as the last resort.
            minx, miny, maxx, maxy = shapely.union(a2.envelope, b2.envelope).bounds
            grid = max(maxx - minx, maxy - miny, 1e-12) * 1e-9
            return float(shapely.intersection(a2, b2, grid_size=grid).area)


def jaccard_areas(truth, pred) -> tuple[float, float]:
    """(intersection area, union area) of two valid MultiPolygons."""
    inter = _overlay_area(truth, pred)
    union = float(truth.area) + float(pred.area) - inter
    return inter, max(union, 0.0)


@dataclass
class ClassSums:
    """Per-class sums of intersections and unions over images, of the ``known`` ids."""

    known: list[int]
    inter: dict = field(default_factory=dict)
    union: dict = field(default_factory=dict)

    def add(self, class_type: int, inter: float, union: float) -> None:
        self.inter[class_type] = self.inter.get(class_type, 0.0) + inter
        self.union[class_type] = self.union.get(class_type, 0.0) + union

    def per_class(self, classes) -> dict[str, float | None]:
        out: dict[str, float | None] = {str(k): None for k in self.known}
        for k in classes:
            if self.union.get(k, 0.0) > 0:
                out[str(k)] = self.inter[k] / self.union[k]
        return out


def mean_of(per_class: dict[str, float | None]) -> float | None:
    vals = [v for v in per_class.values() if v is not None]
    return float(np.mean(vals)) if vals else None


def _load_predictions(paths) -> dict[str, dict[int, tuple[str, str]]]:
    """ImageId -> {ClassType: (wkt, where)}; a later file overrides an earlier one."""
    out: dict[str, dict[int, tuple[str, str]]] = {}
    for path in paths:
        for lineno, image_id, ct, wkt in read_wkt_lines(path):
            slot = out.setdefault(image_id, {})
            if ct in slot:
                log.debug("%s: image %s class %s overrides %s", path, image_id, ct, slot[ct][1])
            slot[ct] = (wkt, wkt_where(path, lineno, image_id, ct))
    return out


def _images_to_score(truth: dict, preds: dict, images, truth_csv) -> list[str]:
    """``images`` (repeats dropped; each must have truth polygons), or by default the
    truth ids present in the predictions."""
    if images is None:
        images = [i for i in truth if i in preds]
        if not images:
            raise DstlError(f"{truth_csv}: no image of the predictions has truth polygons")
        return images
    images = list(dict.fromkeys(images))
    missing = [i for i in images if i not in truth]
    if missing:
        raise DstlError(f"{truth_csv}: no truth polygons for image(s) {', '.join(missing)}")
    for i in images:
        if i not in preds:
            log.warning("image %s is in no prediction CSV: scored as empty", i)
    return images


def _classes_to_score(preds: dict, images: list[str], classes, known: list[int]) -> list[int]:
    """``classes`` (checked against the ``known`` ids), or by default those present in
    the predictions."""
    if classes is None:
        classes = sorted({ct for i in images for ct in preds.get(i, {})}) or list(known)
    for k in classes:
        if k not in known:
            raise DstlError(f"--classes: {k} is not a ClassType in {known[0]}..{known[-1]}")
    return classes


def _geometry(entry):
    """The valid MultiPolygon of a (wkt, where) entry; empty for None."""
    return safe_parse(*entry) if entry is not None else polygonal(None)


def _pixel_counts(truth, pred, size: tuple[int, int], grid: tuple[float, float]):
    """(pixels in both, pixels in either) of two grid-unit MultiPolygons rasterised on
    an (H, W) image."""
    from dstl_hpc.prepare.raster import rasterize

    h, w = size
    xmax, ymin = grid
    tm = rasterize(grid_to_pixels(truth, w, h, xmax, ymin), (h, w)).astype(bool)
    pm = rasterize(grid_to_pixels(pred, w, h, xmax, ymin), (h, w)).astype(bool)
    return int(np.count_nonzero(tm & pm)), int(np.count_nonzero(tm | pm))


def score(
    truth_csv,
    pred_csvs,
    images: list[str] | None = None,
    classes: list[int] | None = None,
    data_dir=None,
    known=None,
) -> dict:
    """The scores dict of contracts.md (``per_class``, ``mean``, ``pixel_*``, ``images``).

    ``images``: ids to score (default: the truth ids present in the predictions);
    ``classes``: ClassTypes to score (default: those present in the predictions);
    ``data_dir``: a DSTL data directory for the pixel metric (image sizes); None skips it;
    ``known``: the source's classes (``ClassInfo``; default the DSTL classes), each a
    key of ``per_class``.
    """
    ids = [c.id for c in (known or default_classes())]
    truth = read_wkt_entries(truth_csv)
    preds = _load_predictions(pred_csvs)
    images = _images_to_score(truth, preds, images, truth_csv)
    classes = _classes_to_score(preds, images, classes, ids)
    layout = Layout(data_dir) if data_dir is not None else None
    grids = read_grid_sizes(layout.grid_sizes) if layout is not None else None
    poly, pix = ClassSums(ids), ClassSums(ids)  # pix stays all None without a data dir
    for image_id in images:
        size = None
        if layout is not None:
            grid_for(grids, image_id, layout.grid_sizes)
            size = image_size(layout, image_id)
        for k in classes:
            t = _geometry(truth[image_id].get(k))
            p = _geometry(preds.get(image_id, {}).get(k))
            poly.add(k, *jaccard_areas(t, p))
            if size is not None:
                pix.add(k, *_pixel_counts(t, p, size, grids[image_id]))
    per_class, pixel_per_class = poly.per_class(classes), pix.per_class(classes)
    return {
        "per_class": per_class,
        "mean": mean_of(per_class),
        "pixel_per_class": pixel_per_class,
        "pixel_mean": mean_of(pixel_per_class),
        "images": list(images),
    }


def format_table(result: dict, known=None, split: str = "validation") -> str:
    """A small text table of a scores dict; ``known``: the classes (``ClassInfo``) to
    name, default the DSTL classes; ``split``: which images were scored ("validation"
    or "test"). Each column says which score it is (``dstl_hpc.scoring.labels``)."""
    from dstl_hpc.scoring.labels import image_set, score_kinds

    def f(v):
        return "-" if v is None else f"{v:.4f}"

    kinds = score_kinds(result, split)
    widths = [max(len(k.label), 6) for k in kinds]
    head = f"{'class':>5} {'name':<15} " + "  ".join(
        f"{k.label:>{w}}" for k, w in zip(kinds, widths, strict=True)
    )
    lines = [head]
    rows = [(str(c.id), c.name, str(c.id)) for c in known or default_classes()]
    for label, name, key in [*rows, ("mean", "", None)]:
        cells = []
        for k, w in zip(kinds, widths, strict=True):
            v = result.get(k.mean_key) if key is None else (result.get(k.key) or {}).get(key)
            cells.append(f"{f(v):>{w}}")
        lines.append(f"{label:>5} {name:<15} " + "  ".join(cells))
    lines += [f"{k.label}: {k.thresholds}" for k in kinds]
    lines.append(f"on {image_set(result['images'], split, limit=len(result['images']))}")
    return "\n".join(lines)
