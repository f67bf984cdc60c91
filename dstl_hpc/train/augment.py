"""Rotation, flips, jitter and normalisation of whole batches on the training device.

With ``augment_on: device`` the DataLoader only crops: ``PatchSampler.crop`` copies the
raw window that holds a patch at any angle (``CropBatches``: whole batches of windows
and their draws), and ``DeviceAugment`` makes the patches on the training device, one
``affine_grid`` + ``grid_sample`` per batch over image and mask planes together. The
draws are those of the CPU path (``PatchSampler.sample``), so the patches are the same
up to interpolation: cv2 rounds sampling positions to 1/32 px, grid_sample does not.

The operations follow the CPU path: bilinear rotation about the patch centre (image
and masks alike: rotated masks are soft, values in [0, 1]; mask values are rounded to
multiples of 1/1024, the resolution of cv2's bilinear weights, so that turns by
multiples of 90 degrees and flips give exact 0/1 targets), horizontal then vertical
flip, the per-channel jitter factor on the raw values, then ``(x - mean) / std``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dstl_hpc.config.settings import AUGMENT_ON

MASK_STEPS = 1024  # soft mask values are multiples of 1 / MASK_STEPS


def resolve_augment_on(setting: str, device) -> str:
    """``cpu`` or ``device``: auto is device when training on CUDA, else cpu (on a CPU the
    cv2 path is cheaper: one warp of the patch instead of the whole window)."""
    if setting == "auto":
        return "device" if torch.device(device).type == "cuda" else "cpu"
    if setting not in AUGMENT_ON:
        raise ValueError(f"augment_on must be one of {AUGMENT_ON}, got {setting!r}")
    return setting


def raw_planes(windows: torch.Tensor) -> torch.Tensor:
    """float32 (B, P, W, W) of uint16 (B, W, W, P) windows."""
    return windows.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)


def affine_theta(draws: torch.Tensor, scale: float) -> torch.Tensor:
    """float32 (B, 2, 3) ``affine_grid`` matrices of draws (B, >= 3): angle in degrees,
    hflip, vflip. Output point (x, y) (normalised, centred) reads the window at
    scale * R(angle) (fx x, fy y), fx = -1 when flipped horizontally (fy: vertically):
    the rotation of the CPU path (``rotation_matrix``), then its flips."""
    rad = torch.deg2rad(draws[:, 0].double())
    cos, sin = torch.cos(rad), torch.sin(rad)
    fx = 1.0 - 2.0 * draws[:, 1].double()
    fy = 1.0 - 2.0 * draws[:, 2].double()
    theta = torch.zeros((draws.shape[0], 2, 3), dtype=torch.float64, device=draws.device)
    theta[:, 0, 0] = scale * cos * fx
    theta[:, 0, 1] = -scale * sin * fy
    theta[:, 1, 0] = scale * sin * fx
    theta[:, 1, 1] = scale * cos * fy
    return theta.float()


class DeviceAugment:
    """Batches of ``CropBatches`` (windows, draws), already on ``device``, -> (x, y) as
    the CPU path gives them: x float32 (B, C, S, S) normalised, y float32 (B, n, inner,
    inner)."""

    def __init__(self, sampler, device):
        device = torch.device(device)
        self.n_channels, self.side = sampler.n_channels, sampler.side
        self.inner, self.border = sampler.inner, sampler.border
        self.mean = torch.as_tensor(sampler.mean.reshape(1, -1, 1, 1), device=device)
        self.std = torch.as_tensor(sampler.std.reshape(1, -1, 1, 1), device=device)

    def __call__(self, windows: torch.Tensor, draws: torch.Tensor):
        planes = raw_planes(windows)
        out = self.warp(planes, draws)
        return self.image(out, draws), self.target(out)

    def warp(self, planes: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """(B, P, S, S): every plane rotated and flipped about the window centre."""
        theta = affine_theta(draws, self.side / planes.shape[-1])
        size = (planes.shape[0], planes.shape[1], self.side, self.side)
        grid = F.affine_grid(theta, size, align_corners=False)
        return F.grid_sample(
            planes, grid, mode="bilinear", padding_mode="border", align_corners=False
        )

    def image(self, out: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """The image planes, jittered (raw values times the factors) and normalised."""
        factor = draws[:, 3:].to(torch.float32)[:, :, None, None]
        x = out[:, : self.n_channels] * factor
        return x.sub_(self.mean).div_(self.std)

    def target(self, out: torch.Tensor) -> torch.Tensor:
        """The mask planes' centre (the target), on the 1/1024 grid of cv2's weights."""
        b, inner = self.border, self.inner
        y = out[:, self.n_channels :, b : b + inner, b : b + inner]
        return torch.round(y * MASK_STEPS).div_(MASK_STEPS)
