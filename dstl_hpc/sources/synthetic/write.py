"""Writing a synthetic dataset: options, the DSTL layout's files, an atomic output folder."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstl_hpc.atomic import remove_stale
from dstl_hpc.config.schema_keys import SYNTHETIC_DEFAULTS
from dstl_hpc.errors import DstlError
from dstl_hpc.sources.dstl import CLASS_TYPES, Layout, synthetic_ids
from dstl_hpc.sources.synthetic.image import SynthImage, make_image, make_mosaic, presence_plan
from dstl_hpc.sources.synthetic.labels import EMPTY_WKT

log = logging.getLogger(__name__)

# The config's synthetic defaults (dstl_hpc.config.schema_keys), also those of `dstl-hpc synth`.
DEFAULT_IMAGES = SYNTHETIC_DEFAULTS["images"]
DEFAULT_TRAIN = SYNTHETIC_DEFAULTS["train_images"]
DEFAULT_SIZE = tuple(SYNTHETIC_DEFAULTS["size"])
DEFAULT_SEED = SYNTHETIC_DEFAULTS["seed"]
MIN_SIZE = 64
MAX_SIZE = 20000

TRUTH_FILE = "synth_truth.json"
TEST_WKT_FILE = "synth_test_wkt.csv"  # the test images' true polygons (not in the DSTL layout)
WKT_HEADER = ["ImageId", "ClassType", "MultipolygonWKT"]


@dataclass(frozen=True)
class SynthOptions:
    n_images: int = DEFAULT_IMAGES
    n_train: int = DEFAULT_TRAIN
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    mosaic: bool = False  # the tiles of a scene continue into each other

    def validate(self) -> None:
        if self.n_images < 2:
            raise DstlError(f"synthetic dataset: need at least 2 images, got {self.n_images}")
        if not 0 < self.n_train < self.n_images:
            raise DstlError(
                f"synthetic dataset: need 0 < train images ({self.n_train}) < images "
                f"({self.n_images}): at least one test image"
            )
        if len(self.size) != 2:
            raise DstlError(f"synthetic dataset: size must be H W, got {self.size}")
        h, w = self.size
        if min(h, w) < MIN_SIZE:
            raise DstlError(f"synthetic dataset: size {h} x {w} is too small (minimum {MIN_SIZE})")
        if max(h, w) > MAX_SIZE:
            raise DstlError(f"synthetic dataset: size {h} x {w} is too large (maximum {MAX_SIZE})")
        if self.seed < 0:
            raise DstlError(f"synthetic dataset: seed must be >= 0, got {self.seed}")


def _replaceable(out_dir: Path) -> bool:
    """An earlier synthetic dataset, or only empty folders (and our extra CSV): what
    Snakemake leaves after deleting a rule's declared outputs before rerunning it."""
    if (out_dir / TRUTH_FILE).exists():
        return True
    files = (p for p in out_dir.rglob("*") if not p.is_dir())
    return all(p.relative_to(out_dir).as_posix() == TEST_WKT_FILE for p in files)


@contextlib.contextmanager
def _atomic_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary sibling directory, renamed onto ``out_dir`` when the block succeeds."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DstlError(f"{out_dir}: exists and is not a directory")
    if out_dir.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise DstlError(f"{out_dir}: refusing to replace the current directory or one above it")
    if out_dir.is_dir() and not _replaceable(out_dir):
        raise DstlError(
            f"{out_dir}: exists, holds files and is not a synthetic dataset (no {TRUTH_FILE}); "
            "refusing to replace it"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)  # what a killed earlier run left
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if out_dir.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent)
            )
            os.replace(out_dir, old)  # onto an empty directory: allowed
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_tiff(path: Path, arr: np.ndarray) -> None:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"planarconfig": "separate"} if arr.ndim == 3 else {}
    tifffile.imwrite(path, arr, photometric="minisblack", **kwargs)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(
    out_dir: str | os.PathLike,
    n_images: int = DEFAULT_IMAGES,
    n_train: int = DEFAULT_TRAIN,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    mosaic: bool = False,
) -> dict:
    """Write the dataset to ``out_dir`` (atomically) and return the truth dict. With
    ``mosaic``, the tiles of a scene ({scene}_{row}_{col}) are cut from one landscape,
    so that objects run on into the neighbouring tiles, all of ``size``."""
    size = (int(size[0]), int(size[1]))
    opts = SynthOptions(int(n_images), int(n_train), size, int(seed), bool(mosaic))
    opts.validate()
    train, test = synthetic_ids(opts.n_images, opts.n_train)
    truth: dict = {
        "seed": opts.seed,
        "size": list(opts.size),
        "mosaic": opts.mosaic,
        "train_ids": train,
        "test_ids": test,
        "offsets": {},
        "shapes": {},
        "class_fractions": {},
    }
    grid_rows, wkt_rows, test_wkt_rows = [], [], []
    with _atomic_dir(Path(out_dir)) as tmp:
        layout = Layout(tmp)
        for index, img in enumerate(_images(opts, train + test)):
            image_id = img.image_id
            is_train = index < opts.n_train
            _write_image(layout, img, truth)
            grid_rows.append([image_id, f"{img.xmax:.6f}", f"{img.ymin:.6f}"])
            rows = [[image_id, cls, img.wkt[cls]] for cls in CLASS_TYPES]
            (wkt_rows if is_train else test_wkt_rows).extend(rows)
            log.info(
                "%s (%s): %d x %d, classes %s",
                image_id,
                "train" if is_train else "test",
                img.height,
                img.width,
                ",".join(str(c) for c in CLASS_TYPES if img.wkt[c] != EMPTY_WKT),
            )
        _write_csv(layout.grid_sizes, ["", "Xmax", "Ymin"], grid_rows)
        _write_csv(layout.train_wkt, WKT_HEADER, wkt_rows)
        empty = [[i, c, EMPTY_WKT] for i in test for c in CLASS_TYPES]
        _write_csv(layout.sample_submission, WKT_HEADER, empty)
        # The test images' true polygons, for scoring a submission on synthetic data.
        _write_csv(tmp / TEST_WKT_FILE, WKT_HEADER, test_wkt_rows)
        (tmp / TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _images(opts: SynthOptions, ids: list[str]) -> Iterator[SynthImage]:
    """The dataset's images in id order: one scene each, or (``mosaic``) one per DSTL
    scene, cut into its tiles."""
    plans = presence_plan(opts.n_images, opts.n_train, opts.seed)
    if not opts.mosaic:
        for index, image_id in enumerate(ids):
            yield make_image(opts.seed, index, image_id, opts.size, plans[index])
        return
    scenes: dict[str, list[tuple[int, str, int, int]]] = {}
    for index, image_id in enumerate(ids):
        scene, row, col = image_id.split("_")
        scenes.setdefault(scene, []).append((index, image_id, int(row), int(col)))
    for tiles in scenes.values():
        present = set().union(*(plans[i] for i, _, _, _ in tiles))
        yield from make_mosaic(opts.seed, tiles, opts.size, present)


def _write_image(layout: Layout, img: SynthImage, truth: dict) -> None:
    """Write an image's four TIFFs and enter its offsets, shapes and class fractions in ``truth``."""
    _write_tiff(layout.three_band(img.image_id), img.bands["RGB"])
    for band in ("P", "M", "A"):
        _write_tiff(layout.sixteen_band(img.image_id, band), img.bands[band])
    truth["offsets"][img.image_id] = img.offsets
    truth["shapes"][img.image_id] = {
        "RGB": [img.height, img.width],
        **{b: list(img.bands[b].shape[-2:]) for b in ("P", "M", "A")},
    }
    truth["class_fractions"][img.image_id] = {str(c): round(f, 6) for c, f in img.fractions.items()}
