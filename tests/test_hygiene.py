"""Project hygiene (issue 20): a LICENSE matching pyproject.toml, local build output
ignored, and a CHANGELOG whose newest entry is the version that is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
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
