"""The raster formats the synthetic geo dataset is written in: JPEG 2000 for the coarse
files where this GDAL writes it losslessly (probed once), else GeoTIFF."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from dstl_hpc.sources.geo.synthetic.dataset import CRS

_JP2_PROBE: dict[str, bool] = {}


def coarse_driver() -> str:
    """``JP2OpenJPEG`` if this GDAL writes lossless JPEG 2000 that reads back the same,
    else ``GTiff``. Probed once (a 16 x 16 file in a temporary folder)."""
    if "jp2" not in _JP2_PROBE:
        _JP2_PROBE["jp2"] = _probe_jp2()
    return "JP2OpenJPEG" if _JP2_PROBE["jp2"] else "GTiff"


def _probe_jp2() -> bool:
    import rasterio
    from rasterio.transform import from_origin

    data = (np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16) * 97) % 60000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.jp2"
        try:
            with rasterio.Env(CPL_LOG="/dev/null"):
                with rasterio.open(
                    path, "w", **raster_profile("JP2OpenJPEG", 2, 16, 16, from_origin(0, 16, 1, 1))
                ) as dst:
                    dst.write(data)
                with rasterio.open(path) as src:
                    return src.driver == "JP2OpenJPEG" and bool(np.array_equal(src.read(), data))
        except Exception:  # any failure means: no usable JPEG 2000 writer
            return False


def raster_profile(driver: str, count: int, height: int, width: int, transform) -> dict:
    profile = {
        "driver": driver,
        "count": count,
        "height": height,
        "width": width,
        "dtype": "uint16",
        "crs": CRS,
        "transform": transform,
        "nodata": 0,
    }
    if driver == "JP2OpenJPEG":
        profile.update(QUALITY="100", REVERSIBLE="YES")
    else:
        profile.update(compress="deflate", predictor=2)
    return profile
