"""Project hygiene (issue 20): a LICENSE matching pyproject.toml, local build output
ignored, a CHANGELOG whose newest entry is the version that is installed, and the
project's own checks: ruff (lint and format), snakefmt and `snakemake --lint` of the
default and the geo configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dstl_hpc
from dstl_hpc.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _pyproject(key: str) -> str:
    """A ``key = "value"`` or ``key = { text = "value" }`` of pyproject.toml's
    [project] (no tomllib: Python 3.10 is supported)."""
    text = (ROOT / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    match = re.search(rf'^{key} = (?:\{{ text = )?"([^"]+)"', project, flags=re.M)
    assert match, f"pyproject.toml: no {key}"
    return match.group(1)


def test_changelog_newest_version_is_the_package_version(capsys):
    versions = re.findall(r"^## \[?v?(\d+\.\d+\.\d+[^\]\s]*)", (ROOT / "CHANGELOG.md").read_text(),
                          flags=re.M)  # fmt: skip
    assert versions, "CHANGELOG.md has no '## <version>' entry"
    assert versions[0] == _pyproject("version") == dstl_hpc.__version__
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"dstl-hpc {dstl_hpc.__version__}"


def test_license_file_matches_pyproject():
    assert _pyproject("license") == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_local_build_output_is_ignored():
    paths = [".venv/bin/python", "venv/bin/python", "dist/x.whl", "build/lib/x.py"]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert sorted(proc.stdout.split()) == sorted(paths), proc.stderr


# ------------------------------------------------------ the project's own checks
# (issue 20: the README's test command runs them, so CI does; each takes seconds)


def _check(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@pytest.mark.skipif(not _installed("ruff"), reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_check_and_format_are_clean():
    lint = _check(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _check(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.skipif(
    not _installed("snakefmt"), reason="snakefmt not installed (pip install -e '.[test]')"
)
def test_snakefmt_check_is_clean():
    proc = _check(sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:] + (
        "\nrun: snakefmt Snakefile workflow/"
    )


@pytest.mark.parametrize("configfile", [None, "config/geo.yaml"], ids=["default", "geo"])
def test_snakemake_lint_is_clean(configfile, tmp_path):
    extra = ["--configfile", str(ROOT / configfile)] if configfile else []
    proc = _check(
        sys.executable, "-m", "snakemake", "--lint", "-s", str(ROOT / "Snakefile"),
        "--directory", str(tmp_path), *extra,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "Congratulations, your workflow is in a good condition" in text
