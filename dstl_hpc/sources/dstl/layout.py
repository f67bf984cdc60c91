"""The names of the DSTL data: classes, channels, bands, the file paths of one data
directory (:class:`Layout`) and the ids ``dstl-hpc synth`` gives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.sources.base import ClassInfo

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
# Road, track and waterway are thin, line-like features.
DSTL_CLASSES = tuple(
    ClassInfo(k, name, "line" if k in (3, 4, 7) else "area") for k, name in CLASS_NAMES.items()
)
CHANNELS = (
    ("R", "G", "B", "P") + tuple(f"M{i}" for i in range(1, 9)) + tuple(f"A{i}" for i in range(1, 9))
)
BANDS = ("P", "M", "A")
BAND_CHANNELS = {"P": 1, "M": 8, "A": 8}

# The five validation images of the seed solution.
SEED_VALIDATION_IDS = ("6140_3_1", "6110_1_2", "6160_2_1", "6170_0_4", "6100_2_2")


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
