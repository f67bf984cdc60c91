#!/usr/bin/env bash
# lock.sh - regenerate the lock files requirements/cpu.txt and requirements/cuda.txt
# (exact versions of pyproject.toml's dependencies and its `test` extra, with every
# package they pull in) and the version pins of envs/*.yaml. Run it after any change
# to the dependencies in pyproject.toml; tests/test_lock_files.py fails until then.
#
#   pip install uv                                  # the tool: uv's `uv pip compile`
#   bash scripts/lock.sh                            # pins that still fit are kept
#   bash scripts/lock.sh --upgrade                  # every pin to its newest in range
#   bash scripts/lock.sh --upgrade-package numpy    # (any `uv pip compile` option)
#
# Both locks are for CPython 3.11 on Linux x86_64 (glibc >= 2.28) and are resolved on
# PyPI alone (no uv.toml, no UV_* index variables), each variant with one command:
#
#   cuda  uv pip compile pyproject.toml --extra test --python-version 3.11 \
#             --python-platform x86_64-manylinux_2_28 --no-config \
#             --default-index https://pypi.org/simple --generate-hashes \
#             -o requirements/cuda.txt
#         torch is PyPI's Linux wheel, the CUDA build, with its nvidia-*/cuda-*/triton
#         dependencies; every file is hashed (pip installs it in hash-checking mode).
#
#   cpu   uv pip compile pyproject.toml --extra test --python-version 3.11 \
#             --python-platform x86_64-manylinux_2_28 --no-config \
#             --default-index https://pypi.org/simple \
#             --excludes CUDA_ONLY -c requirements/cuda.txt -o requirements/cpu.txt
#         the same versions without the CUDA build's own dependencies. CUDA_ONLY is
#         computed here: the packages that torch==V (V from the CUDA lock) pulls in on
#         Linux but not on Windows, whose PyPI wheel is a CPU build with the same
#         dependencies as PyTorch's torch==V+cpu (checked for 2.13.0: filelock,
#         typing-extensions, setuptools, sympy, networkx, jinja2, fsspec). The lock pins
#         torch==V without a local tag: the installer picks the build by the index it
#         names (https://download.pytorch.org/whl/cpu serves V+cpu, which pip prefers
#         to PyPI's V). No hashes: that wheel is not on PyPI, where this is resolved.
#
# Both commands also get --custom-compile-command "bash scripts/lock.sh" (the header
# of the files) and the options given to this script. Then the pins of envs/*.yaml
# (conda-forge names: pytorch, matplotlib-base, geopandas-base; `pip:` entries by
# their PyPI names) are set to the locked versions, as `name==version` (or
# `name=version=build` where a build is given). An env that lacks a dependency of
# pyproject.toml (Snakemake aside: it runs outside the rules' environments) or that
# names a package the locks do not hold stops the script with the file and names.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv > /dev/null; then
    echo "scripts/lock.sh: uv is not installed: pip install uv" >&2
    exit 2
fi
# Only PyPI and the options below decide the resolution.
unset UV_INDEX UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_FIND_LINKS \
    UV_CONSTRAINT UV_OVERRIDE UV_EXCLUDE UV_TORCH_BACKEND UV_INDEX_STRATEGY \
    UV_EXCLUDE_NEWER UV_PRERELEASE UV_RESOLUTION

platform=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-config
    --default-index https://pypi.org/simple)
common=(pyproject.toml --extra test "${platform[@]}"
    --custom-compile-command "bash scripts/lock.sh" --quiet)
mkdir -p requirements
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

uv pip compile "${common[@]}" --generate-hashes -o requirements/cuda.txt "$@"

torch=$(grep -oE '^torch==[^ ;\\]+' requirements/cuda.txt) || {
    echo "scripts/lock.sh: requirements/cuda.txt: no torch== pin" >&2
    exit 2
}
closure() { # the package names that "$torch" needs on platform $1
    echo "$torch" | uv pip compile - "${platform[@]/x86_64-manylinux_2_28/$1}" \
        --no-header --no-annotate --quiet | sed -n 's/==.*//p' | sort
}
comm -23 <(closure x86_64-manylinux_2_28) <(closure x86_64-pc-windows-msvc) > "$tmp/cuda-only.txt"
if ! grep -q . "$tmp/cuda-only.txt"; then
    echo "scripts/lock.sh: $torch pulls in the same packages on Linux as on Windows:" \
        "no CUDA runtime to leave out of requirements/cpu.txt (is PyPI's Linux wheel" \
        "still the CUDA build?)" >&2
    exit 2
fi

uv pip compile "${common[@]}" --excludes "$tmp/cuda-only.txt" -c requirements/cuda.txt \
    -o requirements/cpu.txt "$@"

# The project's own (direct) runtime dependencies, for the env check below.
uv pip compile pyproject.toml "${platform[@]}" --no-deps --no-header --no-annotate \
    --quiet -c requirements/cuda.txt | sed -n 's/==.*//p' > "$tmp/direct.txt"

cuda_runtime=$(grep -oE '^nvidia-cuda-runtime(-cu[0-9]+)?==[0-9]+\.[0-9]+' \
    requirements/cuda.txt | sed 's/.*==//') || cuda_runtime="its"

python3 - "$tmp/cuda-only.txt" "$tmp/direct.txt" "${torch#torch==}" "$cuda_runtime" <<'EOF'
import re
import sys
from pathlib import Path

cuda_only_file, direct_file, torch_version, cuda_runtime = sys.argv[1:]
HEADERS = {
    "cpu": f"""\
# Exactly the versions that CI installs and tests (.ci/run): CPython 3.11 on Linux
# x86_64, PyTorch's CPU build. Install, from the repository root:
#    pip install -r requirements/cpu.txt --extra-index-url https://download.pytorch.org/whl/cpu
#    pip install -e '.[test]'
# torch=={torch_version} then takes that index's {torch_version}+cpu wheel (pip prefers
# it to PyPI's {torch_version}, the CUDA build). No hashes: that wheel is not on PyPI.
""",
    "cuda": f"""\
# The versions of requirements/cpu.txt with PyPI's CUDA build of PyTorch ({cuda_runtime}
# CUDA runtime: the GPU driver must support it, see `nvidia-smi`), every file hashed.
# CPython 3.11 on Linux x86_64. Install, from the repository root:
#    pip install -r requirements/cuda.txt
#    pip install --no-deps -e .
""",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def add_header(path, header):
    lines = path.read_text().splitlines(keepends=True)
    top = 0
    while top < len(lines) and lines[top].startswith("#"):
        top += 1  # uv's own header
    path.write_text("".join(lines[:top]) + header + "".join(lines[top:]))


for variant, header in HEADERS.items():
    add_header(Path(f"requirements/{variant}.txt"), header)
cuda = dict((canonical(n), v) for n, v in PIN.findall(Path("requirements/cuda.txt").read_text()))
cpu = dict((canonical(n), v) for n, v in PIN.findall(Path("requirements/cpu.txt").read_text()))
cuda_only = {canonical(n) for n in Path(cuda_only_file).read_text().split()}
if set(cpu) != set(cuda) - cuda_only or any(cpu[n] != cuda[n] for n in cpu):
    sys.exit("scripts/lock.sh: requirements/cpu.txt is not requirements/cuda.txt less "
             f"{sorted(cuda_only)}")

# envs/*.yaml: conda-forge names of the packages whose PyPI name differs.
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib", "geopandas-base": "geopandas"}
NOT_LOCKED = {"python", "pip", "cuda-version"}
ENTRY = re.compile(r"^(\s*-\s+)([A-Za-z0-9][A-Za-z0-9._-]*)(\S*)(.*)$")
direct = {canonical(n) for n in Path(direct_file).read_text().split()} - {"snakemake"}
problems = []
for env in sorted(Path("envs").glob("*.yaml")):
    lines = env.read_text().splitlines(keepends=True)
    named = set()
    section = None
    for i, line in enumerate(lines):
        top = re.match(r"([A-Za-z_][\w-]*):", line)
        section = top[1] if top else section
        match = ENTRY.match(line)
        if section != "dependencies" or not match or line.rstrip().endswith(":"):
            continue  # not a package (`- pip:` opens the pip section)
        if match[2] in NOT_LOCKED:
            continue
        lead, name, spec, rest = match.groups()
        pypi = canonical(CONDA_NAMES.get(name, name))
        named.add(pypi)
        if pypi not in cuda:
            problems.append(f"{env}: {name} is not in the locks (no dependency of pyproject.toml)")
            continue
        build = re.fullmatch(r"=[^=\s]+=(\S+)", spec)
        if not (build or re.fullmatch(r"==[^=\s]+", spec)):
            problems.append(f"{env}: {name}{spec}: write {name}==VERSION or {name}=VERSION=BUILD")
            continue
        pin = f"={cuda[pypi]}={build[1]}" if build else f"=={cuda[pypi]}"
        lines[i] = f"{lead}{name}{pin}{rest}\n"
    env.write_text("".join(lines))
    if direct - named:
        problems.append(f"{env}: no entry for {', '.join(sorted(direct - named))} (dependencies in "
                        "pyproject.toml): add each (its conda-forge name, or under pip:) and rerun")
if problems:
    sys.exit("scripts/lock.sh: " + "\nscripts/lock.sh: ".join(problems))
print(f"requirements/cuda.txt: {len(cuda)} packages, torch {torch_version} ({cuda_runtime} CUDA)")
print(f"requirements/cpu.txt: {len(cpu)} packages (less {len(cuda_only)} CUDA-only ones)")
print("envs/*.yaml: pins set from the locks")
EOF
