"""The contract of each HDF5 dataset passed between steps, checked whenever one is
opened (``dstl_hpc.prepare.stacks.open_h5``, the one way they are read): dtype, shape
and attributes only, no pixels read, so the check costs nothing next to the read.

- stack ``image``: uint16 (C, H, W), C = len(attr ``channels``) when present; geo
  chips' ``valid``: uint8 (1, H, W);
- mask ``mask``: uint8 (N, H, W), N = len(attr ``classes``) (+ 1 with the geo
  ``known`` plane, whose attr ``known_plane`` must be N + 1, the last);
- prediction ``prob``: uint8 (n, H, W) with attrs ``classes`` (n distinct ClassTypes
  >= 1), ``image_id`` (not empty) and ``scale`` 255 (when present).
"""

from __future__ import annotations

import numpy as np

from dstl_hpc.errors import DstlError

# The dtype of each dataset; all are (planes, H, W), none of them 0.
DTYPES = {"image": np.uint16, "mask": np.uint8, "prob": np.uint8}


def check_contract(path, h5, dataset: str) -> None:
    """The dtype, shape and attributes of a stack's ``image`` (and geo ``valid``), a
    mask's ``mask`` (and geo ``known`` plane) or a prediction's ``prob``: a DstlError
    naming ``path`` when they break the contract. Reads no pixels."""
    import h5py

    ds = h5[dataset]
    if not isinstance(ds, h5py.Dataset):
        raise DstlError(f"{path}: {dataset!r} is not a dataset")
    want = DTYPES.get(dataset)
    if want is None:
        return
    shape = tuple(ds.shape)
    if ds.dtype != want or len(shape) != 3 or 0 in shape:
        raise DstlError(
            f"{path}: {dataset!r} is {ds.dtype} of shape {shape}, expected "
            f"{np.dtype(want).name} (planes, H, W)"
        )
    attrs = h5.attrs
    if dataset == "image":
        names = attrs.get("channels")
        if names is not None and len(names) != shape[0]:
            raise DstlError(f"{path}: {shape[0]} image planes but {len(names)} channel names")
        if "valid" in h5:
            _check_plane(path, h5["valid"], "valid", shape[1:])
    elif dataset == "mask":
        known = attrs.get("known_plane")
        if known is not None and int(known) != shape[0]:
            raise DstlError(f"{path}: known_plane {known} is not the last of {shape[0]} planes")
        classes = attrs.get("classes")
        if classes is not None and len(classes) + (known is not None) != shape[0]:
            raise DstlError(f"{path}: {shape[0]} mask planes for {len(classes)} classes")
    else:  # prob
        _check_prediction_attrs(path, attrs, shape[0])


def _check_plane(path, ds, name: str, hw: tuple) -> None:
    """A geo chip's ``valid`` plane: uint8 (1, H, W) of the image's size."""
    if ds.dtype != np.uint8 or tuple(ds.shape) != (1, *hw):
        raise DstlError(
            f"{path}: {name!r} is {ds.dtype} of shape {tuple(ds.shape)}, expected uint8 (1, *{hw})"
        )


def _check_prediction_attrs(path, attrs, planes: int) -> None:
    """A prediction's ``classes`` (one distinct ClassType a plane), ``image_id`` and
    ``scale`` (255)."""
    for key in ("classes", "image_id"):
        if key not in attrs:
            raise DstlError(f"{path}: no {key!r} attribute (not a prediction file?)")
    try:
        classes = [int(c) for c in np.atleast_1d(attrs["classes"])]
    except (TypeError, ValueError):
        raise DstlError(f"{path}: 'classes' {attrs['classes']!r} are not ClassTypes") from None
    if len(classes) != planes or len(set(classes)) != planes or min(classes) < 1:
        raise DstlError(f"{path}: {planes} prob planes for classes {classes}")
    if not str(attrs["image_id"]):
        raise DstlError(f"{path}: empty 'image_id' attribute")
    if "scale" in attrs and float(attrs["scale"]) != 255:
        raise DstlError(f"{path}: scale {attrs['scale']} (expected 255)")


def check_image_id(path, image_id: str) -> None:
    """A stack, mask or prediction read as image ``image_id``'s must say it is (its
    ``image_id`` attribute, when it has one): a file copied or renamed into another
    image's place is refused, naming the file and both ids."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            said = h5.attrs.get("image_id")
    except OSError:
        return  # not HDF5: its reader (``stacks.open_h5``) says so when it opens it
    if said is not None and str(said) and str(said) != str(image_id):
        raise DstlError(
            f"{path}: a file of image {said} (its image_id), read as image {image_id}'s"
        )
