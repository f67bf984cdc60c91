"""How much memory this process may still use, the way a cluster enforces it.

On a SLURM node the limit that applies is rarely the process's own cgroup: SLURM
puts it on the job's (or step's) cgroup, a parent; free memory undercounts what
the kernel can hand back (page cache). So the budget is the tightest of:

* ``MemAvailable`` of /proc/meminfo (free memory plus reclaimable cache);
* every cgroup from this process's up to the root, v2 (``memory.max`` minus
  ``memory.current``) or v1 (``memory.limit_in_bytes`` minus ``memory.usage_in_bytes``);
* SLURM's allocation, ``SLURM_MEM_PER_NODE`` or ``SLURM_MEM_PER_CPU`` x CPUs (MB).

Every reader takes its paths and environment as arguments, so tests can build
a fake /proc and /sys. No numpy, no torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

# Stacks and masks are kept in memory for training up to this fraction of the budget.
IN_MEMORY_FRACTION = 0.25
# cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages).
_V1_UNLIMITED = 1 << 60


def meminfo_available(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """MemAvailable in bytes (None when unknown)."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _ancestors(rel: str) -> list[str]:
    """'/a/b/c' -> ['a/b/c', 'a/b', 'a', '']: from the own cgroup up to the root."""
    parts = [p for p in rel.strip().split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _cgroup_usage(proc_cgroup, root) -> list[tuple[str, int, int]]:
    """(cgroup, limit, used) in bytes for every limited cgroup from this process's up
    to the root, v2 and v1 alike."""
    root = Path(root)
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, rel = fields
        if controllers == "":  # v2 unified hierarchy
            for c in _ancestors(rel):
                base = root / c
                limit = _read_int(base / "memory.max")
                used = _read_int(base / "memory.current")
                if limit is not None:
                    out.append((f"/{c}", limit, used or 0))
        elif "memory" in controllers.split(","):  # v1 memory controller
            for c in _ancestors(rel):
                base = root / "memory" / c
                limit = _read_int(base / "memory.limit_in_bytes")
                used = _read_int(base / "memory.usage_in_bytes")
                if limit is not None and limit < _V1_UNLIMITED:
                    out.append((f"/{c}", limit, used or 0))
    return out


def cgroup_limits(
    proc_cgroup: str | Path = "/proc/self/cgroup", root: str | Path = "/sys/fs/cgroup"
) -> list[tuple[str, int]]:
    """(cgroup, bytes left under its limit) for every limited cgroup from this
    process's up to the root, v2 and v1 alike."""
    return [(c, max(0, limit - used)) for c, limit, used in _cgroup_usage(proc_cgroup, root)]


def meminfo_total(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """MemTotal in bytes (None when unknown)."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def machine_memory(
    meminfo: str | Path = "/proc/meminfo",
    proc_cgroup: str | Path = "/proc/self/cgroup",
    cgroup_root: str | Path = "/sys/fs/cgroup",
) -> tuple[int, str] | None:
    """(bytes, which) of the memory a job run on this machine can have at most: the
    smaller of MemTotal and every cgroup limit above this process (a container's);
    None when unknown. Not what is free now: what no job here can exceed."""
    candidates = []
    total = meminfo_total(meminfo)
    if total is not None:
        candidates.append(("MemTotal", total))
    candidates += [
        (f"cgroup {c}", limit) for c, limit, _ in _cgroup_usage(proc_cgroup, cgroup_root)
    ]
    if not candidates:
        return None
    name, value = min(candidates, key=lambda c: c[1])
    return value, name


def slurm_limit(env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """(variable, bytes) of the job's SLURM memory allocation, or None outside SLURM."""
    env = os.environ if env is None else env
    try:
        if env.get("SLURM_MEM_PER_NODE"):
            return "SLURM_MEM_PER_NODE", int(env["SLURM_MEM_PER_NODE"]) * 2**20
        if env.get("SLURM_MEM_PER_CPU"):
            cpus = int(env.get("SLURM_CPUS_ON_NODE") or env.get("SLURM_CPUS_PER_TASK") or 1)
            return "SLURM_MEM_PER_CPU x CPUs", int(env["SLURM_MEM_PER_CPU"]) * cpus * 2**20
    except ValueError:
        return None
    return None


def memory_budget(
    meminfo: str | Path = "/proc/meminfo",
    proc_cgroup: str | Path = "/proc/self/cgroup",
    cgroup_root: str | Path = "/sys/fs/cgroup",
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """(bytes this process may still use, which limit decided it): the tightest of
    MemAvailable, every cgroup limit up the hierarchy and SLURM's allocation."""
    candidates: list[tuple[str, int]] = []
    avail = meminfo_available(meminfo)
    if avail is not None:
        candidates.append(("MemAvailable", avail))
    candidates += [(f"cgroup {c}", b) for c, b in cgroup_limits(proc_cgroup, cgroup_root)]
    slurm = slurm_limit(env)
    if slurm is not None:
        candidates.append(slurm)
    if not candidates:
        return 0, "no memory information (treated as none available)"
    name, value = min(candidates, key=lambda c: c[1])
    others = ", ".join(f"{n} {b / 2**30:.2f} GiB" for n, b in candidates if n != name)
    return value, f"{name} {value / 2**30:.2f} GiB" + (f" (also: {others})" if others else "")


def decide_in_memory(setting, nbytes: int) -> bool:
    """``setting`` when true or false; for auto, whether the stacks and masks fit in
    IN_MEMORY_FRACTION of the memory this process may still use (``memory_budget``:
    the tightest of MemAvailable, the cgroup hierarchy and SLURM's allocation)."""
    if setting in (True, False):
        return bool(setting)
    budget, why = memory_budget()
    keep = nbytes <= IN_MEMORY_FRACTION * budget
    log.info(
        "in_memory auto: %.2f GiB of stacks and masks, budget %s -> %s (in memory up to %d%% "
        "of the budget)",
        nbytes / 2**30,
        why,
        "in memory" if keep else "read from HDF5",
        round(100 * IN_MEMORY_FRACTION),
    )
    return keep


# ---------------------------------------------------------------- estimates
# The peak memory (max RSS) of each step, as a fixed part (the interpreter and its
# imports) plus bytes per pixel of the image it holds. Fitted to peaks measured with
# one CPU thread on synthetic images of 512, 1024 and 2048 px a side, then rounded up
# (measured per pixel: synth 48, align 92, masks 32, stats 15, predict with 12 input
# channels and 2 classes 48; training in memory exactly its uint16 planes); the test
# tests/test_config_refusals.py measures one again. ``dstl_hpc.config.job_memory``
# compares them with the memory each job gets, before any job.
MiB = 2**20
GiB = 2**30


class Footprint(NamedTuple):
    """A step's peak: ``base`` bytes plus ``per_px`` bytes per pixel; ``what`` says
    what the pixels hold."""

    base: int
    per_px: float
    what: str

    def bytes(self, pixels: int) -> int:
        return int(self.base + self.per_px * pixels)


SYNTH = Footprint(
    100 * MiB, 52, "one image's rendered bands, materials and labels: 52 bytes per pixel"
)
# the landscape a mosaic's tiles are cut from (objects, not pixels: a small share)
SYNTH_MOSAIC_PER_PX = 12
ALIGN = Footprint(
    100 * MiB,
    96,
    "one image's 20-channel uint16 stack, its bands read and warped as float32: 96 bytes per pixel",
)
MASKS = Footprint(80 * MiB, 36, "10 uint8 class planes and their rasterising: 36 bytes per pixel")
STATS = Footprint(100 * MiB, 18, "one stack's planes at a time: 18 bytes per pixel")
TRAIN_BASE = 600 * MiB  # torch, the model, a batch (CPU); a GPU job's CUDA context adds:
CUDA_HOST = 1 * GiB
PREDICT_BASE = 400 * MiB


def train_footprint(planes: int, gpu: bool, procs: int = 1) -> Footprint:
    """A training that keeps its images in memory (``in_memory: true``): every training
    and validation image's input and class planes as uint16, in each of its ``procs``
    processes (``train --procs``: one per GPU, each with its own copy)."""
    each = "" if procs == 1 else f" in each of {procs} processes"
    return Footprint(
        procs * (TRAIN_BASE + (CUDA_HOST if gpu else 0)),
        procs * 2 * planes,
        f"the training and validation images in memory (in_memory): 2 bytes x {planes} "
        f"planes per pixel{each}",
    )


def predict_footprint(n_inputs: int, n_classes: int, gpu: bool) -> Footprint:
    """One image predicted: its float32 input planes and per-class float32 sums."""
    return Footprint(
        PREDICT_BASE + (CUDA_HOST if gpu else 0),
        4 * n_inputs + 8 * n_classes,
        f"one image's {n_inputs} float32 input planes and {n_classes} classes' float32 sums: "
        f"{4 * n_inputs + 8 * n_classes} bytes per pixel",
    )
