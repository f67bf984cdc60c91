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
import gzip
import io
import logging
import math
import sys
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dstl_hpc.errors import DstlError

log = logging.getLogger(__name__)

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
WKT_HEADER = ["ImageId", "ClassType", "MultipolygonWKT"]
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 8192  # the head of a CSV that must hold no NUL byte


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


@contextmanager
def open_csv(path: str | Path):
    """A text handle of a CSV file for ``csv.reader``, gunzipped when the file is gzip
    (by its magic bytes, whatever its name). DstlError for a missing, binary, non-UTF-8
    or corrupt gzip file."""
    path = Path(path)
    if not path.exists():
        raise DstlError(f"{path}: file not found")
    if not path.is_file():
        raise DstlError(f"{path}: not a file")
    with path.open("rb") as probe:
        gz = probe.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as raw:
            if b"\x00" in raw.read(SNIFF_BYTES):
                raise DstlError(f"{path}: not a CSV text file (binary data)")
            raw.seek(0)
            with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
                yield fh
    except UnicodeDecodeError:
        raise DstlError(f"{path}: not a CSV text file (not UTF-8 text)") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DstlError(f"{path}: corrupt gzip file ({exc})") from None


def _read_csv_lines(path: Path, expected: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the data rows of a CSV whose header is ``expected``."""
    with open_csv(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DstlError(f"{path}: empty file, expected header {','.join(expected)}") from None
        header = [h.strip() for h in header]
        # grid_sizes.csv of the competition has an empty first column name.
        if header[1:] != expected[1:] or header[0] not in (expected[0], ""):
            raise DstlError(f"{path}: header {header} is not {expected}")
        rows, last = [], reader.line_num
        try:
            for row in reader:
                lineno, last = last + 1, reader.line_num  # a quoted field may span lines
                if not row:
                    continue
                if len(row) != len(expected):
                    raise DstlError(
                        f"{path}, line {lineno}: expected {len(expected)} fields, got {len(row)}"
                    )
                rows.append((lineno, row))
        except csv.Error as exc:
            raise DstlError(f"{path}, line {reader.line_num}: {exc}") from None
    return rows


def _read_csv_rows(path: Path, expected: list[str]) -> list[list[str]]:
    return [row for _, row in _read_csv_lines(path, expected)]


def _repeated(path, what: str, first: int, again: int, same: bool, values: str) -> None:
    """``what`` listed on line ``first`` and again on ``again``: the same values are
    dropped with a warning, different ones are a DstlError."""
    if not same:
        raise DstlError(
            f"{path}, lines {first} and {again}: {what} listed twice with different {values}"
        )
    log.warning(
        "%s, lines %d and %d: %s listed twice with the same %s; the repeat is dropped",
        path,
        first,
        again,
        what,
        values,
    )


def _grid_values(path: Path, lineno: int, image_id: str, xmax: str, ymin: str):
    try:
        xmax_f, ymin_f = float(xmax), float(ymin)
    except ValueError:
        raise DstlError(f"{path}, line {lineno}: Xmax/Ymin of {image_id} are not numbers") from None
    if not (math.isfinite(xmax_f) and math.isfinite(ymin_f)):
        raise DstlError(f"{path}, line {lineno}: {image_id} has non-finite Xmax={xmax} Ymin={ymin}")
    if not (xmax_f > 0 and ymin_f < 0):
        raise DstlError(
            f"{path}, line {lineno}: {image_id} has Xmax={xmax} Ymin={ymin}; "
            "expected Xmax > 0 and Ymin < 0"
        )
    return xmax_f, ymin_f


def read_grid_sizes(path: str | Path) -> dict[str, tuple[float, float]]:
    """ImageId -> (Xmax, Ymin)."""
    path = Path(path)
    out: dict[str, tuple[float, float]] = {}
    line_of: dict[str, int] = {}
    for lineno, (image_id, xmax, ymin) in _read_csv_lines(path, ["ImageId", "Xmax", "Ymin"]):
        values = _grid_values(path, lineno, image_id, xmax, ymin)
        if image_id in out:
            same = out[image_id] == values
            _repeated(path, f"image {image_id}", line_of[image_id], lineno, same, "Xmax/Ymin")
            continue
        out[image_id], line_of[image_id] = values, lineno
    return out


def _class_type(path: Path, lineno: int, class_type: str) -> int:
    try:
        ct = int(class_type)
    except ValueError:
        raise DstlError(
            f"{path}, line {lineno}: ClassType {class_type!r} is not an integer"
        ) from None
    if ct not in CLASS_TYPES:
        raise DstlError(f"{path}, line {lineno}: ClassType {ct} is not in 1..10")
    return ct


def read_wkt_lines(path: str | Path) -> list[tuple[int, str, int, str]]:
    """(line, ImageId, ClassType, MultipolygonWKT) rows of a train_wkt / submission style
    CSV, in file order; WKT strings unparsed. A repeated (ImageId, ClassType) is dropped
    with a warning when its WKT is the same, else a DstlError."""
    path = Path(path)
    rows = []
    first: dict[tuple[str, int], tuple[int, str]] = {}
    for lineno, (image_id, class_type, wkt) in _read_csv_lines(path, WKT_HEADER):
        ct = _class_type(path, lineno, class_type)
        if (image_id, ct) in first:
            line, seen = first[image_id, ct]
            what = f"image {image_id} class {ct}"
            _repeated(path, what, line, lineno, seen == wkt, "WKT")
            continue
        first[image_id, ct] = (lineno, wkt)
        rows.append((lineno, image_id, ct, wkt))
    return rows


def wkt_where(path, lineno: int, image_id: str, class_type: int) -> str:
    """How errors about one WKT row name it."""
    return f"{path}, line {lineno}, image {image_id}, class {class_type}"


def read_wkt_rows(path: str | Path) -> list[tuple[str, int, str]]:
    """(ImageId, ClassType, MultipolygonWKT) rows of ``read_wkt_lines``, without lines."""
    return [(image_id, ct, wkt) for _, image_id, ct, wkt in read_wkt_lines(path)]


def read_wkt_entries(path: str | Path) -> dict[str, dict[int, tuple[str, str]]]:
    """ImageId -> {ClassType: (MultipolygonWKT, where)}; ``where`` names the file, line,
    image and class for ``parse_wkt``."""
    out: dict[str, dict[int, tuple[str, str]]] = {}
    for lineno, image_id, ct, wkt in read_wkt_lines(path):
        out.setdefault(image_id, {})[ct] = (wkt, wkt_where(path, lineno, image_id, ct))
    return out


def read_wkt_csv(path: str | Path) -> dict[str, dict[int, str]]:
    """ImageId -> {ClassType: MultipolygonWKT} (``parse_wkt`` turns one into a geometry)."""
    return {
        image_id: {ct: wkt for ct, (wkt, _) in by_class.items()}
        for image_id, by_class in read_wkt_entries(path).items()
    }


def read_ids(path: str | Path) -> list[str]:
    """The image ids of a WKT-style CSV, in first-seen order (cheap: no WKT parsing)."""
    path = Path(path)
    seen: dict[str, None] = {}
    with open_csv(path) as fh:
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


def wkt_geometry(wkt: str, where: str = ""):
    """The shapely geometry of a WKT string, as written; DstlError naming ``where`` when
    it does not parse or has NaN / inf coordinates."""
    import numpy as np
    import shapely

    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates: checked below
            geom = shapely.from_wkt(wkt)
    except Exception as exc:  # shapely raises GEOSException
        raise DstlError(f"{where}: unparsable WKT ({str(exc).splitlines()[0]})") from None
    if geom is not None and not np.isfinite(shapely.get_coordinates(geom)).all():
        raise DstlError(f"{where}: non-finite coordinates (NaN or inf) in WKT")
    return geom


def as_multipolygon(geom, where: str = ""):
    """A MultiPolygon of a (Multi)Polygon or of a collection's polygons."""
    from shapely.geometry import MultiPolygon, Polygon

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


def parse_wkt(wkt: str, where: str = ""):
    """Parse a MULTIPOLYGON / POLYGON WKT into a shapely MultiPolygon; errors name ``where``
    (unparsable, NaN / inf coordinates, not polygonal)."""
    return as_multipolygon(wkt_geometry(wkt, where), where)


def image_polygons(path: str | Path, image_id: str) -> dict[int, object]:
    """ClassType -> MultiPolygon (grid coordinates) for one image of a WKT CSV."""
    rows = read_wkt_entries(path)
    if image_id not in rows:
        raise DstlError(f"{path}: no polygons for image {image_id}")
    return {ct: parse_wkt(wkt, where) for ct, (wkt, where) in sorted(rows[image_id].items())}


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
    arr = np.asarray(arr)
    if arr.dtype != np.uint16:
        log.warning("%s: dtype %s, expected uint16; read as it is", path, arr.dtype)
    bad = non_finite_count(arr)
    if bad:
        raise DstlError(f"{path}: {bad} NaN/inf pixel(s) of {arr.size}")
    return arr


def non_finite_count(arr) -> int:
    """How many values of an array are NaN or +-inf (0 for integer arrays)."""
    import numpy as np

    if arr.dtype.kind not in "fc":
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def band_shape_problem(band: str, shape, rgb_shape, rgb: str = "the RGB image") -> str | None:
    """Why a band of (h, w) ``shape`` cannot belong to an RGB image of ``rgb_shape``, or None.

    P must have about the RGB size, M and A (about 1/4 and 1/24 of it) its aspect ratio;
    the tolerance (5 % + 1.5 band px) allows for the rounding of the band sizes.
    """
    h, w = (int(n) for n in shape[-2:])
    big_h, big_w = (int(n) for n in rgb_shape[-2:])
    sy, sx = big_h / h, big_w / w
    tol = 0.05 + 1.5 / min(h, w)
    sizes = f"{band} band of {h} x {w} px"
    if band == "P" and max(abs(sy - 1), abs(sx - 1)) > tol:
        return f"{sizes} is not the size of {rgb} ({big_h} x {big_w} px)"
    if max(sy, sx) / min(sy, sx) - 1 > tol:
        return (
            f"{sizes} does not have the aspect ratio of {rgb} ({big_h} x {big_w} px): "
            f"scaled {sy:.3g} x vertically, {sx:.3g} x horizontally"
        )
    return None


def read_rgb(layout: Layout, image_id: str):
    """(3, H, W) uint16."""
    return _read_tiff(layout.three_band(image_id), 3, 3)


def read_band(layout: Layout, image_id: str, band: str):
    """P: (h, w) ~ (H, W); M and A: (8, h, w) with the RGB image's aspect ratio."""
    path = layout.sixteen_band(image_id, band)
    if band == "P":
        arr = _read_tiff(path, 2, None)
    else:
        arr = _read_tiff(path, 3, BAND_CHANNELS[band])
    rgb = layout.three_band(image_id)
    problem = band_shape_problem(band, arr.shape, image_size(layout, image_id), str(rgb))
    if problem:
        raise DstlError(f"{path}: {problem}")
    return arr


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
