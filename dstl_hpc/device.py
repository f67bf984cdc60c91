"""The device a step runs on, and a fast, clear failure when CUDA is asked for but
cannot be had: a job that asked the cluster for a GPU must not train on the CPU
until its time limit (and then again on every retry). Also the CPUs a step may use."""

from __future__ import annotations

import os

from dstl_hpc.errors import DstlError

DEVICES = ("auto", "cpu", "cuda")


def cpu_count(slurm: bool = True) -> int:
    """CPUs of this job: SLURM_CPUS_PER_TASK when set (and ``slurm``), else this
    process's affinity (all CPUs where there is none, off Linux)."""
    env = os.environ.get("SLURM_CPUS_PER_TASK", "") if slurm else ""
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_cores() -> int:
    """The CPUs this process may run on (its affinity; all CPUs off Linux)."""
    return cpu_count(slurm=False)


def check_threads(threads: int | None, flag: str = "--threads") -> int | None:
    """``threads`` unchanged when it is None (the step picks) or at most the cores this
    process may run on; DstlError (exit 2) otherwise: tens of thousands of threads
    exhaust the machine (a SIGSEGV that can take other users' jobs down with it)."""
    if threads is None:
        return None
    cores = available_cores()
    if threads > cores:
        raise DstlError(
            f"{flag} {threads}: more than the {cores} cores this process may run on; "
            f"give at most {cores}"
        )
    return threads


def cuda_problem(torch) -> str | None:
    """Why CUDA cannot be used with this PyTorch on this machine (None: it can)."""
    if torch.version.cuda is None:
        return (
            f"PyTorch {torch.__version__} is a CPU-only build; install the CUDA build that "
            "matches the node's NVIDIA driver (README, 'PyTorch for your GPUs')"
        )
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return (
            f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU "
            f"(CUDA_VISIBLE_DEVICES={visible!r}): is the job on a GPU node, did it ask for "
            "one (gpu or gres in the config), and is the NVIDIA driver loaded?"
        )
    return None


def resolve_device(device: str = "auto"):
    """A torch.device for ``auto`` (CUDA when usable, else the CPU), ``cpu`` or ``cuda``;
    DstlError (exit 2) at once when ``cuda`` cannot be had, saying why."""
    import torch

    if device not in DEVICES:
        raise DstlError(f"--device {device!r}: expected one of {', '.join(DEVICES)}")
    problem = cuda_problem(torch) if device in ("auto", "cuda") else "not asked"
    if device == "cuda" and problem:
        raise DstlError(f"--device cuda: {problem}")
    return torch.device("cuda" if device == "cuda" or problem is None else "cpu")
