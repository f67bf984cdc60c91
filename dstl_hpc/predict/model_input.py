"""What a model reads from an image stack (``ModelInput``): its channels and index planes,
checked against the stack's channels and (geo) bands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dstl_hpc.errors import DstlError


@dataclass
class ModelInput:
    """What a model reads from a stack: its first ``n_channels`` channels, then the
    index planes ``indices`` (dstl_hpc.prepare.indices) computed from them."""

    n_channels: int
    indices: list[str]
    channels: list[str]  # the stack channels the model was trained on, by name
    bands: dict | None = None  # geo: the bands (count, order, dtypes, resolution) trained on

    @classmethod
    def of(cls, meta: dict) -> ModelInput:
        hp = meta.get("hparams", {})
        indices = list(hp.get("indices") or [])
        n = len(meta["mean"]) - len(indices)
        channels = [str(c) for c in meta.get("channels", [])][:n]
        return cls(n, indices, channels, meta.get("bands"))

    def read(self, stack_path, rows=slice(None), cols=slice(None)) -> np.ndarray:
        """The model's input planes of a stack (a window of it with ``rows``/``cols``)."""
        from dstl_hpc.prepare.indices import source_channels, with_indices
        from dstl_hpc.prepare.stacks import open_h5

        n = source_channels(self.n_channels, self.indices)
        with open_h5(stack_path, "image") as h5:
            raw = h5["image"][:n, rows, cols]
        return with_indices(raw, self.n_channels, self.indices)

    def check(self, stack_path, info: dict) -> None:
        from dstl_hpc.prepare.indices import source_channels

        if self.bands and info.get("bands") and info["bands"] != self.bands:
            raise DstlError(
                f"{stack_path}: its bands {_bands_text(info['bands'])} are not the ones the "
                f"model was trained on ({_bands_text(self.bands)})"
            )
        have = info["channels"][: self.n_channels]
        if self.channels and have != self.channels:
            raise DstlError(
                f"{stack_path}: channels {have} do not match the model's {self.channels}"
            )
        need = source_channels(self.n_channels, self.indices)
        if info["shape"][0] < need:
            raise DstlError(f"{stack_path}: {info['shape'][0]} channels, the model needs {need}")


def _bands_text(bands: dict) -> str:
    """'6 bands b1, ...; files: 4 uint16 at 2 m, 2 uint16 at 4 m' of a bands record."""
    files = "; ".join(
        f"{f['count']} {'/'.join(sorted(set(f['dtypes'])))} at {f['resolution'][0]:g}"
        for f in bands.get("signature", [])
    )
    return f"{len(bands.get('channels', []))} channels {', '.join(bands.get('channels', []))}; files: {files}"
