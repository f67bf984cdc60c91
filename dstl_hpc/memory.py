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


def cgroup_limits(
    proc_cgroup: str | Path = "/proc/self/cgroup", root: str | Path = "/sys/fs/cgroup"
) -> list[tuple[str, int]]:
    """(cgroup, bytes left under its limit) for every limited cgroup from this
    process's up to the root, v2 and v1 alike."""
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
                    out.append((f"/{c}", max(0, limit - (used or 0))))
        elif "memory" in controllers.split(","):  # v1 memory controller
            for c in _ancestors(rel):
                base = root / "memory" / c
                limit = _read_int(base / "memory.limit_in_bytes")
                used = _read_int(base / "memory.usage_in_bytes")
                if limit is not None and limit < _V1_UNLIMITED:
                    out.append((f"/{c}", max(0, limit - (used or 0))))
    return out


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
