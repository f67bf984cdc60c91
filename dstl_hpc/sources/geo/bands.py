"""Band agreement between geo scenes: what a model records and what the scenes it reads
must agree on (per file: the count of chosen bands, their dtypes, the resolution)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.geo.grid import band_file, chosen_bands, open_raster


def band_signature(files: Sequence) -> list[dict]:
    """Per file: count of chosen bands, their dtypes, the file's resolution (in its CRS's
    units). What a model records and what the scenes it reads must agree on."""
    out = []
    for f in map(band_file, files):
        with open_raster(f.path) as src:
            bands = chosen_bands(src, f)
            out.append(
                {
                    "count": len(bands),
                    "dtypes": [src.dtypes[b - 1] for b in bands],
                    "resolution": [float(r) for r in src.res],
                }
            )
    return out


def check_same_bands(scenes: Mapping[str, Sequence]) -> list[dict]:
    """Every scene's files give the same band counts and dtypes as the first scene's; a
    one-line DstlError names the scene and file that differ. Returns the first scene's
    signature."""
    first_id = first = None
    for scene_id, files in scenes.items():
        files = [band_file(f) for f in files]
        sig = band_signature(files)
        if first is None:
            first_id, first = scene_id, sig
            continue
        if len(sig) != len(first):
            raise DstlError(
                f"scene {scene_id}: {len(sig)} raster files, scene {first_id} has {len(first)}"
            )
        for f, a, b in zip(files, sig, first, strict=True):
            if a["count"] != b["count"] or a["dtypes"] != b["dtypes"]:
                raise DstlError(
                    f"scene {scene_id}: {f.path}: {a['count']} bands {'/'.join(a['dtypes'])}, "
                    f"scene {first_id} has {b['count']} bands {'/'.join(b['dtypes'])} there"
                )
    return first or []
