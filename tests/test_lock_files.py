"""Reproducible installs (issue 21): the lock files requirements/cpu.txt and
requirements/cuda.txt (made by scripts/lock.sh) pin every dependency of pyproject.toml,
its `test` extra included, within pyproject's ranges; the conda envs pin the same
versions; CI installs the CPU lock and then runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ("cpu", "cuda")
# What the locks are for: CPython 3.11 on Linux x86_64.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "test",
}
# The packages of PyTorch's CUDA build that its CPU build does without.
CUDA_RUNTIME = re.compile(r"nvidia-.*|cuda-.*|triton")
# envs/*.yaml: the conda-forge names that differ from PyPI's; entries that are not locked.
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib", "geopandas-base": "geopandas"}
NOT_LOCKED = {"python", "pip", "cuda-version"}
# `name==version`, or `name=version=build` (also an exact version in conda).
CONDA_PIN = re.compile(
    r"(?P<name>[A-Za-z0-9][\w.-]*)(?:==(?P<version>[^=\s]+)|=(?P<v>[^=\s]+)=\S+)"
)


def pyproject_requirements(extras: tuple[str, ...] = ("test",)) -> list[Requirement]:
    """pyproject.toml's dependencies and those of `extras`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def read_lock(path: Path) -> tuple[dict[str, str], list[str], set[str]]:
    """A lock file's pins (canonical name -> version), its lines that are not an exact
    pin, and the names of the pins that carry hashes."""
    logical = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    pins, loose, hashed = {}, [], set()
    for line in logical.splitlines():
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        requirement = text.split(" --hash=", 1)[0].strip()
        try:
            req = Requirement(requirement)
        except ValueError:
            loose.append(text)
            continue
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version or req.url:
            loose.append(text)
            continue
        name = canonicalize_name(req.name)
        pins[name] = specs[0].version
        if " --hash=" in text:
            hashed.add(name)
    return pins, loose, hashed


def unlocked(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    """The requirements (for the locks' target) that `pins` misses or pins out of range."""
    problems = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate(TARGET):
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req}: not pinned")
        elif not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{req}: pinned at {version}, out of range")
    return problems


def lock(variant: str) -> tuple[dict[str, str], list[str], set[str]]:
    return read_lock(ROOT / "requirements" / f"{variant}.txt")


@pytest.mark.parametrize("variant", LOCKS)
def test_each_lock_pins_every_dependency_of_pyproject_within_its_range(variant):
    pins, _, _ = lock(variant)
    problems = unlocked(pyproject_requirements(), pins)
    assert not problems, f"requirements/{variant}.txt: {problems}; run bash scripts/lock.sh"


def test_a_dependency_added_or_narrowed_without_relocking_is_caught():
    pins, _, _ = lock("cpu")
    numpy = pins["numpy"]
    locked = [Requirement("numpy>=1.24"), Requirement("torch>=2.3,<2.14")]
    assert unlocked(locked, pins) == []
    added = [*locked, Requirement("not-a-locked-package>=1")]
    assert unlocked(added, pins) == ["not-a-locked-package>=1: not pinned"]
    narrowed = [Requirement(f"numpy>{numpy}"), Requirement("torch>=2.3,<2.14")]
    assert unlocked(narrowed, pins) == [f"numpy>{numpy}: pinned at {numpy}, out of range"]
    # A dependency that does not apply to the locks' target needs no pin.
    assert unlocked([Requirement('pywin32>=300; sys_platform == "win32"')], pins) == []


@pytest.mark.parametrize("variant", LOCKS)
def test_every_line_of_a_lock_is_an_exact_pin_made_by_the_lock_script(variant):
    text = (ROOT / "requirements" / f"{variant}.txt").read_text()
    pins, loose, hashed = lock(variant)
    assert loose == [], f"requirements/{variant}.txt: lines that are not name==version"
    assert "#    bash scripts/lock.sh" in text.splitlines()[:3]
    if variant == "cuda":  # all from PyPI: pip installs it in hash-checking mode
        assert hashed == set(pins)
    else:  # torch's CPU wheel comes from the index the installer names
        assert hashed == set()


def test_the_cpu_lock_is_the_cuda_lock_without_the_cuda_runtime():
    cpu, _, _ = lock("cpu")
    cuda, _, _ = lock("cuda")
    assert {name: cuda[name] for name in cpu} == cpu, "the two locks pin different versions"
    runtime = set(cuda) - set(cpu)
    assert runtime, "requirements/cuda.txt has no CUDA runtime: not the CUDA build of torch"
    assert all(CUDA_RUNTIME.fullmatch(name) for name in runtime), sorted(runtime)
    assert not [name for name in cpu if CUDA_RUNTIME.fullmatch(name)]


def conda_env_pins(path: Path) -> tuple[dict[str, str], list[str], str | None]:
    """A conda env file's pins by PyPI name, its entries that are not an exact pin, and
    the build of its pytorch entry."""
    pins, loose, torch_build = {}, [], None
    entries = yaml.safe_load(path.read_text())["dependencies"]
    for entry in entries:
        if isinstance(entry, dict):  # the pip: section, PyPI requirements
            for text in entry["pip"]:
                req = Requirement(text)
                specs = list(req.specifier)
                if len(specs) == 1 and specs[0].operator == "==":
                    pins[canonicalize_name(req.name)] = specs[0].version
                else:
                    loose.append(text)
            continue
        name = re.match(r"[A-Za-z0-9][\w.-]*", entry)[0]
        if name in NOT_LOCKED:
            continue
        match = CONDA_PIN.fullmatch(entry)
        if not match:
            loose.append(entry)
            continue
        pins[canonicalize_name(CONDA_NAMES.get(name, name))] = match["version"] or match["v"]
        if name == "pytorch":
            torch_build = entry.rsplit("=", 1)[1] if match["v"] else None
    return pins, loose, torch_build


@pytest.mark.parametrize("env", ["dstl.yaml", "dstl-cuda.yaml"])
def test_conda_envs_pin_the_locked_versions_of_every_runtime_dependency(env):
    path = ROOT / "envs" / env
    pins, loose, torch_build = conda_env_pins(path)
    assert loose == [], f"envs/{env}: entries that are not an exact version"
    cuda, _, _ = lock("cuda")
    differ = {name: (v, cuda.get(name)) for name, v in pins.items() if cuda.get(name) != v}
    assert differ == {}, f"envs/{env}: (env, lock) versions; run bash scripts/lock.sh"
    # Snakemake runs outside the rules' environments; the rest is what the rules import.
    runtime = {canonicalize_name(r.name) for r in pyproject_requirements(extras=())}
    assert runtime - {"snakemake"} - set(pins) == set(), f"envs/{env} misses dependencies"
    assert yaml.safe_load(path.read_text())["dependencies"][0] == "python=3.11"
    assert torch_build == ("cuda*" if env == "dstl-cuda.yaml" else None)


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"Run the tests[^\n]*\n+```bash\n([^\n]+)\n```", readme)
    assert match, "README.md: no 'Run the tests' command block"
    return match[1]


def test_ci_installs_the_cpu_lock_then_runs_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == readme_test_command()
    install = lines.index("pip install -r requirements/cpu.txt")
    # PyTorch's CPU build, at the locked version, comes first.
    torch = next(i for i, line in enumerate(lines) if "download.pytorch.org/whl/cpu" in line)
    assert torch < install < len(lines) - 1
    assert "requirements/cpu.txt" in lines[torch + 1] and "torch==" in lines[torch + 1]


def test_the_readme_and_the_cpu_lock_give_the_same_install_command():
    command = (
        "pip install -r requirements/cpu.txt --extra-index-url https://download.pytorch.org/whl/cpu"
    )
    assert command in (ROOT / "README.md").read_text()
    assert f"#    {command}" in (ROOT / "requirements" / "cpu.txt").read_text()
    assert "pip install -r requirements/cuda.txt" in (ROOT / "README.md").read_text()
