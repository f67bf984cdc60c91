"""The memory budget follows the limit that applies on a cluster: SLURM's job cgroup
(a parent of the process's own), SLURM's variables, and MemAvailable."""

import logging

from dstl_hpc.memory import (
    cgroup_limits,
    decide_in_memory,
    meminfo_available,
    memory_budget,
    slurm_limit,
)

GiB = 2**30


def fake_v2(tmp_path, own="/system.slice/slurmstepd.scope/job_42/step_0/user/task_0"):
    (tmp_path / "cgroup").write_text(f"0::{own}\n")
    root = tmp_path / "sys"
    # the job's cgroup holds SLURM's limit: 4 GiB, 1 GiB used; the task's own is unlimited
    job = root / "system.slice/slurmstepd.scope/job_42"
    job.mkdir(parents=True)
    (job / "memory.max").write_text(str(4 * GiB))
    (job / "memory.current").write_text(str(1 * GiB))
    task = root / own.lstrip("/")
    task.mkdir(parents=True)
    (task / "memory.max").write_text("max")
    (task / "memory.current").write_text(str(GiB // 2))
    (tmp_path / "meminfo").write_text(
        f"MemTotal: {64 * 2**20} kB\nMemFree: {2 * 2**20} kB\nMemAvailable: {40 * 2**20} kB\n"
    )
    return tmp_path / "meminfo", tmp_path / "cgroup", root


def test_the_limit_on_a_parent_cgroup_applies(tmp_path):
    meminfo, cgroup, root = fake_v2(tmp_path)
    assert cgroup_limits(cgroup, root) == [("/system.slice/slurmstepd.scope/job_42", 3 * GiB)]
    budget, why = memory_budget(meminfo, cgroup, root, env={})
    assert budget == 3 * GiB
    assert why.startswith("cgroup /system.slice/slurmstepd.scope/job_42 3.00 GiB")
    assert "MemAvailable 40.00 GiB" in why


def test_available_not_free_memory(tmp_path):
    meminfo, _, _ = fake_v2(tmp_path)
    assert meminfo_available(meminfo) == 40 * GiB  # not MemFree's 2 GiB


def test_cgroup_v1_hierarchy(tmp_path):
    (tmp_path / "cgroup").write_text(
        "5:cpu,cpuacct:/slurm/job_7\n4:memory:/slurm/uid_0/job_7/step_batch\n"
    )
    root = tmp_path / "sys"
    job = root / "memory/slurm/uid_0/job_7"
    step = job / "step_batch"
    step.mkdir(parents=True)
    (job / "memory.limit_in_bytes").write_text(str(8 * GiB))
    (job / "memory.usage_in_bytes").write_text(str(2 * GiB))
    (step / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # unlimited in v1
    assert cgroup_limits(tmp_path / "cgroup", root) == [("/slurm/uid_0/job_7", 6 * GiB)]


def test_slurm_variables(tmp_path):
    assert slurm_limit({"SLURM_MEM_PER_NODE": "48000"}) == ("SLURM_MEM_PER_NODE", 48000 * 2**20)
    per_cpu = {"SLURM_MEM_PER_CPU": "2000", "SLURM_CPUS_ON_NODE": "8"}
    assert slurm_limit(per_cpu) == ("SLURM_MEM_PER_CPU x CPUs", 16000 * 2**20)
    assert slurm_limit({}) is None
    meminfo, cgroup, root = fake_v2(tmp_path)
    budget, why = memory_budget(meminfo, cgroup, root, env={"SLURM_MEM_PER_NODE": "1024"})
    assert budget == GiB and why.startswith("SLURM_MEM_PER_NODE 1.00 GiB")


def test_the_decision_is_logged_with_its_reason(caplog):
    with caplog.at_level(logging.INFO, logger="dstl_hpc.memory"):
        assert decide_in_memory("auto", 1) is True
    assert "in_memory auto:" in caplog.text and "budget" in caplog.text
