"""The HDF5 files that pass between steps, and their contracts.

Stack (``stacks/part{p}/{id}.h5``, written by ``align``; paths:
``dstl_hpc.config.results.ResultsPaths``):
    dataset ``image``: uint16 (20, H, W), channels R, G, B, P, M1..M8, A1..A8,
        chunked (4, 64, 64) for random patch reads, compressed as ``stack_compression``
        says (default Blosc LZ4HC; gzip and uncompressed stacks read as well);
    attrs ``channels`` (the 20 names), ``image_id``, ``alignment`` (JSON string
        ``{"P": {"dx", "dy", "cc", "converged"}, "M": ..., "A": ...}``: the
        displacement of that band's content relative to RGB in pixels of that
        band: a feature at RGB pixel (x, y) appears in the band at
        (x * w_band / W + dx, y * h_band / H + dy)).

    geo chips (``stacks/part{p}/{scene}__{r}_{c}.h5``, written by ``geo-chips``): the
    source's channels (any count), a dataset ``valid`` uint8 (1, H, W) (0: nodata), attrs
    ``scene``, ``window`` (row_off, col_off, h, w on the scene grid), ``crs`` (WKT),
    ``transform`` (affine a..f of the chip); no ``alignment``.

Mask (``masks/{id}.h5``, written by ``masks``; geo: ``masks/part{p}/{chip}.h5``):
    dataset ``mask``: uint8 (n_classes, H, W), plane k-1 for class k (DSTL: 10);
    attrs ``image_id``, ``classes`` ([1..n]), ``pre_buffer`` (JSON: class -> px);
    geo: one more plane, ``known`` (attr ``known_plane``: its 1-based number, n + 1):
    1 where labels are complete and the pixel valid (elsewhere loss and metric ignore
    the pixel); read like a class plane, so patches carry it with their targets.

Prediction (``predictions/{variant}/{group}/part{p}/{id}.h5``, written by ``predict``):
    dataset ``prob``: uint8 (n_group_classes, H, W), probability * 255 rounded;
    attrs ``image_id``, ``classes`` (ClassTypes of the planes), ``scale`` (255).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import hdf5plugin  # registers the Blosc filter with h5py: every reader of stacks imports this
import numpy as np

from dstl_hpc.atomic import atomic_path
from dstl_hpc.config.schema_keys import TOP_LEVEL
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular
from dstl_hpc.prepare.h5_contract import check_contract
from dstl_hpc.sources.dstl import CHANNELS, CLASS_TYPES

CHUNK = 128
# Stacks (uint16): chunks of 4 channels x 64 x 64 px (32 KiB), so reading the first
# 3, 4, 12 or 20 channels of a patch window decompresses only those channels, and a
# rotated 96 px window (~140 px) touches ~3 x 3 tiles instead of 2 x 2 tiles of
# 128 px holding all 20 channels (~3.3x fewer bytes to inflate per patch).
STACK_CHUNK = (4, 64, 64)
# Masks and predictions (uint8): one plane per chunk, 128 x 128 px (16 KiB), so a
# group's classes are read without the other planes.
PLANE_CHUNK = (1, CHUNK, CHUNK)


def _chunks(shape: tuple[int, ...], itemsize: int = 1) -> tuple[int, ...]:
    """Chunk shape of a (C, H, W) dataset (clipped to the shape); others: 128 px tiles."""
    if len(shape) != 3:
        return tuple(min(CHUNK, s) for s in shape)
    layout = STACK_CHUNK if itemsize >= 2 else PLANE_CHUNK
    return tuple(max(1, min(c, s)) for c, s in zip(layout, shape, strict=True))


# How stacks (``stack_compression``) and masks may be stored; files of every option read
# back whatever the option in force (the filter is in the file), so older stacks read:
# blosc-lz4hc (default): Blosc (HDF5 filter 32001, from ``hdf5plugin``), LZ4HC level
#   BLOSC_LEVEL, byte shuffle, one thread: ~0.44 of the raw size (~1.1x gzip's) and
#   ~4x faster to read patches from than gzip (benchmarks/results/feed.json);
# gzip: level 1, shuffled (~0.40 of the raw size), HDF5's own filter;
# none: the raw size.
STACK_COMPRESSION = tuple(TOP_LEVEL["stack_compression"]["enum"])
DEFAULT_COMPRESSION = str(TOP_LEVEL["stack_compression"]["default"])
BLOSC_LEVEL = 4


def filter_args(compression: str) -> dict:
    """h5py ``create_dataset`` arguments of a ``stack_compression`` option (not chunks)."""
    if compression == "blosc-lz4hc":
        return dict(hdf5plugin.Blosc("lz4hc", BLOSC_LEVEL, hdf5plugin.Blosc.SHUFFLE))
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    if compression == "none":
        return {}
    raise ValueError(f"compression must be one of {STACK_COMPRESSION}, got {compression!r}")


def _create(h5, name: str, data: np.ndarray, compression: str = DEFAULT_COMPRESSION):
    chunks = _chunks(data.shape, data.dtype.itemsize)
    return h5.create_dataset(name, data=data, chunks=chunks, **filter_args(compression))


@contextlib.contextmanager
def _new_h5(path):
    """Build an HDF5 file in memory, then write it atomically to ``path``.

    HDF5 writing straight to disk crashes the process (a segfault in h5py's close)
    when the disk fills up; from memory, a full disk is an ordinary OSError, which
    ``atomic_path`` reports naming ``path`` and cleans up after. The memory held is
    the size of the file on disk.
    """
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        yield h5
    with atomic_path(path, suffix=".h5") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def write_stack(
    path,
    image: np.ndarray,
    image_id: str,
    alignment: dict | None = None,
    compression: str = DEFAULT_COMPRESSION,
    *,
    channels=CHANNELS,
    valid: np.ndarray | None = None,
    geo: dict | None = None,
) -> None:
    """A stack: uint16 (len(channels), H, W); geo chips add ``valid`` and ``geo`` attrs."""
    if image.dtype != np.uint16 or image.ndim != 3 or image.shape[0] != len(channels):
        raise ValueError(
            f"stack must be uint16 ({len(channels)}, H, W), got {image.dtype} {image.shape}"
        )
    with _new_h5(path) as h5:
        _create(h5, "image", image, compression)
        h5.attrs["channels"] = list(channels)
        h5.attrs["image_id"] = image_id
        if alignment is not None:
            h5.attrs["alignment"] = json.dumps(alignment)
        if valid is not None:
            _create(h5, "valid", np.ascontiguousarray(valid, np.uint8)[None], compression)
        for key, value in (geo or {}).items():
            h5.attrs[key] = value


def open_h5(path, dataset: str):
    """Open an HDF5 file for reading; clear errors when missing, unreadable, lacking
    ``dataset`` or breaking its contract (``dstl_hpc.prepare.h5_contract``: dtype, shape,
    attributes). Every reader of stacks, masks and predictions opens them here."""
    import h5py

    path = Path(path)
    check_regular(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DstlError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        if dataset not in h5:
            raise DstlError(f"{path}: no dataset {dataset!r}")
        check_contract(path, h5, dataset)
    except BaseException:
        h5.close()
        raise
    return h5


def h5_shape(path: Path, dataset: str) -> tuple[int, ...]:
    """The shape of ``dataset`` in an HDF5 file; clear errors as ``open_h5``."""
    with open_h5(path, dataset) as h5:
        return tuple(h5[dataset].shape)


def read_stack(path, channels: int | None = None) -> np.ndarray:
    """(C, H, W) uint16: the first ``channels`` channels (all 20 by default)."""
    with open_h5(path, "image") as h5:
        ds = h5["image"]
        return ds[: channels or ds.shape[0]]


def stack_info(path) -> dict:
    with open_h5(path, "image") as h5:
        return {
            "image_id": str(h5.attrs.get("image_id", "")),
            "shape": tuple(h5["image"].shape),
            "channels": [str(c) for c in h5.attrs.get("channels", CHANNELS)],
            "alignment": json.loads(h5.attrs.get("alignment", "{}")),
            # geo chips: the bands they hold (channels, per file count/dtypes/resolution)
            "bands": json.loads(h5.attrs.get("bands", "null")),
        }


def write_mask(
    path,
    mask: np.ndarray,
    image_id: str,
    pre_buffer: dict[int, float] | None = None,
    *,
    classes=CLASS_TYPES,
    known: np.ndarray | None = None,
    compression: str = DEFAULT_COMPRESSION,
) -> None:
    """Class planes uint8 (len(classes), H, W); ``known`` (geo): where labels count."""
    classes = list(classes)
    if mask.dtype != np.uint8 or mask.ndim != 3 or mask.shape[0] != len(classes):
        raise ValueError(
            f"mask must be uint8 ({len(classes)}, H, W), got {mask.dtype} {mask.shape}"
        )
    if known is not None:
        mask = np.concatenate([mask, np.asarray(known, np.uint8)[None]])
    with _new_h5(path) as h5:
        _create(h5, "mask", mask, compression)
        h5.attrs["image_id"] = image_id
        h5.attrs["classes"] = classes
        h5.attrs["pre_buffer"] = json.dumps({str(k): v for k, v in (pre_buffer or {}).items()})
        if known is not None:
            h5.attrs["known_plane"] = len(classes) + 1


def known_plane(path) -> int | None:
    """The 1-based plane number of a mask file's ``known`` plane (None: it has none)."""
    with open_h5(path, "mask") as h5:
        k = h5.attrs.get("known_plane")
        return int(k) if k is not None else None


def read_valid(path) -> np.ndarray:
    """uint8 (H, W) ``valid`` plane of a stack (all ones when it has none)."""
    with open_h5(path, "image") as h5:
        if "valid" in h5:
            return h5["valid"][0]
        return np.ones(h5["image"].shape[1:], np.uint8)


def read_mask(path, classes: list[int] | None = None) -> np.ndarray:
    """(len(classes), H, W) uint8 planes for the given ClassTypes (all 10 by default)."""
    with open_h5(path, "mask") as h5:
        ds = h5["mask"]
        if classes is None:
            return ds[:]
        if missing := [c for c in classes if not 1 <= c <= ds.shape[0]]:
            raise DstlError(f"{path}: no plane of class(es) {missing} ({ds.shape[0]} planes)")
        return np.stack([ds[c - 1] for c in classes])


def write_prediction(
    path, prob_u8: np.ndarray, image_id: str, classes: list[int], group: str = ""
) -> None:
    if prob_u8.dtype != np.uint8 or prob_u8.ndim != 3 or prob_u8.shape[0] != len(classes):
        raise ValueError(f"prediction must be uint8 ({len(classes)}, H, W), got {prob_u8.shape}")
    with _new_h5(path) as h5:
        _create(h5, "prob", prob_u8, "gzip")  # read by users too: any HDF5 reader has gzip
        h5.attrs["image_id"] = image_id
        h5.attrs["classes"] = [int(c) for c in classes]
        h5.attrs["scale"] = 255
        if group:
            h5.attrs["group"] = group  # the class group whose model made it


def read_prediction_u8(path) -> tuple[np.ndarray, list[int]]:
    """(prob uint8 (n, H, W) as stored, probability * 255; the class of each plane)."""
    with open_h5(path, "prob") as h5:  # uint8, scale 255: checked by open_h5
        return h5["prob"][:], [int(c) for c in h5.attrs["classes"]]


def read_json_file(path) -> dict:
    """A JSON object file between steps; one-line errors when missing or not JSON."""
    path = check_regular(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DstlError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DstlError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise DstlError(f"{path}: expected a JSON object")
    return data


def read_prediction(path) -> tuple[np.ndarray, list[int], str]:
    """(prob float32 in [0, 1] of shape (n, H, W), ClassTypes, image id)."""
    with open_h5(path, "prob") as h5:
        prob = h5["prob"][:].astype(np.float32) / np.float32(255)
        return prob, [int(c) for c in h5.attrs["classes"]], str(h5.attrs["image_id"])
