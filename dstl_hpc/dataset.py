"""The DSTL data layout: file paths, readers, ids and the grid <-> pixel scaling.

Layout of a data directory (the competition's, or one made by ``dstl-hpc synth``)::

    three_band/{id}.tif             3 x H x W uint16 (R, G, B)
    sixteen_band/{id}_P.tif         H x W uint16 (panchromatic, RGB size)
    sixteen_band/{id}_M.tif         8 x ~H/4 x ~W/4 uint16
    sixteen_band/{id}_A.tif         8 x ~H/24 x ~W/24 uint16 (SWIR)
    grid_sizes.csv                  ImageId, Xmax, Ymin
    train_wkt_v4.csv                ImageId, ClassType, MultipolygonWKT (training polygons)
    sample_submission.csv           ImageId, ClassType, MultipolygonWKT (test ids)

Nothing here assumes one image size: every shape is read from the files.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from dstl_hpc.errors import DstlError

CLASS_TYPES = tuple(range(1, 11))
CLASS_NAMES = {
    1: "buildings",
    2: "structures",
    3: "road",
    4: "track",
    5: "trees",
    6: "crops",
    7: "waterway",
    8: "standing_water",
    9: "vehicle_large",
    10: "vehicle_small",
}
CHANNELS = (
    ("R", "G", "B", "P") + tuple(f"M{i}" for i in range(1, 9)) + tuple(f"A{i}" for i in range(1, 9))
)
BANDS = ("P", "M", "A")
BAND_CHANNELS = {"P": 1, "M": 8, "A": 8}

# The five validation images of the seed solution.
SEED_VALIDATION_IDS = ("6140_3_1", "6110_1_2", "6160_2_1", "6170_0_4", "6100_2_2")

# csv fields hold whole MULTIPOLYGONs of several MB in the real data.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Layout:
    """Paths of the DSTL files under one data directory."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def grid_sizes(self) -> Path:
        return self.root / "grid_sizes.csv"

    @property
    def train_wkt(self) -> Path:
        return self.root / "train_wkt_v4.csv"

    @property
    def sample_submission(self) -> Path:
        return self.root / "sample_submission.csv"

    def three_band(self, image_id: str) -> Path:
        return self.root / "three_band" / f"{image_id}.tif"

    def sixteen_band(self, image_id: str, band: str) -> Path:
        if band not in BANDS:
            raise ValueError(f"unknown band {band!r}: expected one of {BANDS}")
        return self.root / "sixteen_band" / f"{image_id}_{band}.tif"

    def image_files(self, image_id: str) -> list[Path]:
        return [self.three_band(image_id)] + [self.sixteen_band(image_id, b) for b in BANDS]


# --------------------------------------------------------------------------- ids


def synthetic_ids(n_images: int, n_train: int) -> tuple[list[str], list[str]]:
    """The ids ``dstl-hpc synth`` gives: (train ids, test ids), DSTL-style names.

    Kept here (no numpy) so that the workflow can build its DAG before the data exists.
    """
    if not 0 < n_train < n_images:
        raise DstlError(
            f"synthetic dataset: need 0 < train images ({n_train}) < images ({n_images})"
        )
    # A scene of 5 x 5 tiles every 25 ids, as in the competition's naming.
    ids = [f"6{k // 25 + 1:02d}0_{(k // 5) % 5}_{k % 5}" for k in range(n_images)]
    return ids[:n_train], ids[n_train:]


def _read_csv_rows(path: Path, expected: list[str]) -> list[list[str]]:
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DstlError(f"{path}: empty file, expected header {','.join(expected)}") from None
        header = [h.strip() for h in header]
        # grid_sizes.csv of the competition has an empty first column name.
        if header[1:] != expected[1:] or header[0] not in (expected[0], ""):
            raise DstlError(f"{path}: header {header} is not {expected}")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(expected):
                raise DstlError(
                    f"{path}, line {lineno}: expected {len(expected)} fields, got {len(row)}"
                )
            rows.append(row)
    return rows


def read_grid_sizes(path: str | Path) -> dict[str, tuple[float, float]]:
    """ImageId -> (Xmax, Ymin)."""
    path = Path(path)
    out = {}
    for lineno, (image_id, xmax, ymin) in enumerate(
        _read_csv_rows(path, ["ImageId", "Xmax", "Ymin"]), start=2
    ):
        try:
            xmax_f, ymin_f = float(xmax), float(ymin)
        except ValueError:
            raise DstlError(
                f"{path}, line {lineno}: Xmax/Ymin of {image_id} are not numbers"
            ) from None
        if not (xmax_f > 0 and ymin_f < 0):
            raise DstlError(
                f"{path}, line {lineno}: {image_id} has Xmax={xmax} Ymin={ymin}; "
                "expected Xmax > 0 and Ymin < 0"
            )
        out[image_id] = (xmax_f, ymin_f)
    return out


def read_wkt_rows(path: str | Path) -> list[tuple[str, int, str]]:
    """(ImageId, ClassType, MultipolygonWKT) rows of a train_wkt / submission style CSV,
    in file order, header and ClassType checked; WKT strings unparsed."""
    path = Path(path)
    rows = []
    for lineno, (image_id, class_type, wkt) in enumerate(
        _read_csv_rows(path, ["ImageId", "ClassType", "MultipolygonWKT"]), start=2
    ):
        try:
            ct = int(class_type)
        except ValueError:
            raise DstlError(
                f"{path}, line {lineno}: ClassType {class_type!r} is not an integer"
            ) from None
        if ct not in CLASS_TYPES:
            raise DstlError(f"{path}, line {lineno}: ClassType {ct} is not in 1..10")
        rows.append((image_id, ct, wkt))
    return rows


def read_wkt_csv(path: str | Path) -> dict[str, dict[int, str]]:
    """ImageId -> {ClassType: MultipolygonWKT} (``parse_wkt`` turns one into a geometry)."""
    out: dict[str, dict[int, str]] = {}
    for image_id, ct, wkt in read_wkt_rows(path):
        out.setdefault(image_id, {})[ct] = wkt
    return out


def read_ids(path: str | Path) -> list[str]:
    """The image ids of a WKT-style CSV, in first-seen order (cheap: no WKT parsing)."""
    path = Path(path)
    seen: dict[str, None] = {}
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header][:1] != ["ImageId"]:
            raise DstlError(f"{path}: header {header} does not start with ImageId")
        for row in reader:
            if row:
                seen.setdefault(row[0], None)
    return list(seen)


def train_ids(layout: Layout) -> list[str]:
    return read_ids(layout.train_wkt)


def test_ids(layout: Layout) -> list[str]:
    return read_ids(layout.sample_submission)


def parse_wkt(wkt: str, where: str = ""):
    """Parse a MULTIPOLYGON / POLYGON WKT into a shapely MultiPolygon; errors name ``where``."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    try:
        geom = shapely.from_wkt(wkt)
    except Exception as exc:  # shapely raises GEOSException
        raise DstlError(f"{where}: unparsable WKT ({str(exc).splitlines()[0]})") from None
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    if not polys:
        raise DstlError(f"{where}: WKT is a {geom.geom_type}, expected a MULTIPOLYGON")
    return MultiPolygon(polys)


def image_polygons(path: str | Path, image_id: str) -> dict[int, object]:
    """ClassType -> MultiPolygon (grid coordinates) for one image of a WKT CSV."""
    rows = read_wkt_csv(path)
    if image_id not in rows:
        raise DstlError(f"{path}: no polygons for image {image_id}")
    return {
        ct: parse_wkt(wkt, f"{path}, image {image_id}, class {ct}")
        for ct, wkt in sorted(rows[image_id].items())
    }


# --------------------------------------------------------------------- scaling


def scalers(width: int, height: int, xmax: float, ymin: float) -> tuple[float, float]:
    """Factors (fx, fy) with x_px = x * fx, y_px = y * fy (the competition's convention).

    ``W' = W * W / (W + 1)``, ``fx = W' / Xmax``; ``H' = H * H / (H + 1)``, ``fy = H' / Ymin``
    (Ymin < 0, so pixel y is positive).
    """
    w_ = width * width / (width + 1.0)
    h_ = height * height / (height + 1.0)
    return w_ / xmax, h_ / ymin


def grid_to_pixels(geom, width: int, height: int, xmax: float, ymin: float):
    from shapely import affinity

    fx, fy = scalers(width, height, xmax, ymin)
    return affinity.scale(geom, xfact=fx, yfact=fy, origin=(0, 0, 0))


def pixels_to_grid(geom, width: int, height: int, xmax: float, ymin: float):
    from shapely import affinity

    fx, fy = scalers(width, height, xmax, ymin)
    return affinity.scale(geom, xfact=1.0 / fx, yfact=1.0 / fy, origin=(0, 0, 0))


# --------------------------------------------------------------------- readers


def _read_tiff(path: Path, ndim: int, channels: int | None):
    import numpy as np
    import tifffile

    if not path.exists():
        raise DstlError(f"{path}: file not found")
    try:
        arr = tifffile.imread(path)
    except Exception as exc:
        raise DstlError(f"{path}: cannot read TIFF ({type(exc).__name__}: {exc})") from None
    if arr.ndim != ndim or (channels is not None and arr.shape[0] != channels):
        want = f"{channels} x H x W" if channels else "H x W"
        raise DstlError(f"{path}: shape {arr.shape}, expected {want}")
    if min(arr.shape[-2:]) < 2:
        raise DstlError(f"{path}: image of shape {arr.shape} is too small")
    return np.asarray(arr)


def read_rgb(layout: Layout, image_id: str):
    """(3, H, W) uint16."""
    return _read_tiff(layout.three_band(image_id), 3, 3)


def read_band(layout: Layout, image_id: str, band: str):
    """P: (H, W); M and A: (8, h, w)."""
    path = layout.sixteen_band(image_id, band)
    if band == "P":
        return _read_tiff(path, 2, None)
    return _read_tiff(path, 3, BAND_CHANNELS[band])


def image_size(layout: Layout, image_id: str) -> tuple[int, int]:
    """(H, W) of the RGB image, read from the TIFF header only."""
    import tifffile

    path = layout.three_band(image_id)
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
    except Exception as exc:
        raise DstlError(f"{path}: cannot read TIFF ({type(exc).__name__}: {exc})") from None
    if len(shape) != 3 or shape[0] != 3:
        raise DstlError(f"{path}: shape {shape}, expected 3 x H x W")
    return int(shape[1]), int(shape[2])


def grid_of(layout: Layout, image_id: str) -> tuple[float, float]:
    grids = read_grid_sizes(layout.grid_sizes)
    if image_id not in grids:
        raise DstlError(f"{layout.grid_sizes}: image {image_id} is missing")
    return grids[image_id]
