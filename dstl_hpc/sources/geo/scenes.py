"""The scenes of a geo data source: ids, splits and raster files, from a scene table or globs.

A scene table is a CSV (``scene,split,files``; ``files`` separated by ``;``) or a YAML
list (``- {id: s1, split: train, files: [a.tif, {path: b.jp2, bands: [1, 2]}]}``).
Relative paths are relative to the table's folder. Globs (``data.scene_globs``) give
one scene per matched file, named after the file's stem, per split.

Only paths and names are read here (no raster is opened): the workflow builds its DAG
from them. ``dstl_hpc.sources.geo.grid`` opens the files.
"""

from __future__ import annotations

import csv
import glob
import re
from dataclasses import dataclass
from pathlib import Path

from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

SPLITS = ("train", "validation", "test", "predict")
# Scene ids become file names, wildcard values and chip-id prefixes ({scene}__{r}_{c}).
SCENE_ID = re.compile(r"[A-Za-z0-9]+(_[A-Za-z0-9]+)*")


@dataclass(frozen=True)
class SceneFile:
    """One raster file of a scene and the 1-based bands chosen from it (None: all)."""

    path: Path
    bands: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Scene:
    id: str
    split: str
    files: tuple[SceneFile, ...]


def _check_id(scene_id: str, where: str) -> str:
    if not SCENE_ID.fullmatch(scene_id):
        raise DstlError(
            f"{where}: scene id {scene_id!r} must be letters and digits, optionally joined "
            "by single '_' (it names files and jobs)"
        )
    return scene_id


def _check_split(split: str, where: str) -> str:
    if split not in SPLITS:
        raise DstlError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    return split


def _bands_for(position: int, bands) -> tuple[int, ...] | None:
    """The configured bands of a scene's ``position``-th file (``data.bands``)."""
    if not bands or position >= len(bands) or bands[position] is None:
        return None
    return tuple(int(b) for b in bands[position])


def _file(entry, base: Path, position: int, bands, where: str) -> SceneFile:
    if isinstance(entry, dict):
        if "path" not in entry:
            raise DstlError(f"{where}: a file entry needs 'path' (got {sorted(entry)})")
        chosen = entry.get("bands")
        path, chosen = entry["path"], tuple(int(b) for b in chosen) if chosen else None
    else:
        path, chosen = entry, _bands_for(position, bands)
    path = Path(str(path).strip())
    if not str(path):
        raise DstlError(f"{where}: an empty file name")
    return SceneFile(path if path.is_absolute() else base / path, chosen)


def read_scene_table(path, bands=None) -> list[Scene]:
    """The scenes of a CSV or YAML scene table (``bands``: per file position, optional)."""
    path = Path(path)
    if not path.exists():
        raise DstlError(f"{path}: scene table not found")
    check_regular(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DstlError(f"{path}: not a readable text file ({exc})") from None
    rows = (
        _yaml_rows(path, text)
        if path.suffix.lower() in (".yaml", ".yml")
        else _csv_rows(path, text)
    )
    if not rows:
        raise DstlError(f"{path}: no scenes")
    scenes = []
    for n, (scene_id, split, files) in enumerate(rows, 1):
        where = f"{path}, scene {n}"
        if not files:
            raise DstlError(f"{where}: no raster files")
        scenes.append(
            Scene(
                _check_id(str(scene_id), where),
                _check_split(str(split), where),
                tuple(_file(f, path.parent, i, bands, where) for i, f in enumerate(files)),
            )
        )
    return check_scenes(scenes, str(path))


def _csv_rows(path: Path, text: str):
    reader = csv.DictReader(text.splitlines())
    need = {"scene", "split", "files"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise DstlError(f"{path}: a scene table CSV needs the columns scene, split, files")
    return [
        (r["scene"].strip(), r["split"].strip(), [f for f in r["files"].split(";") if f.strip()])
        for r in reader
    ]


def _yaml_rows(path: Path, text: str):
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DstlError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict):
        data = data.get("scenes")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DstlError(f"{path}: a YAML scene table is a list of {{id, split, files}}")
    rows = []
    for r in data:
        files = r.get("files")
        rows.append(
            (
                r.get("id", ""),
                r.get("split", ""),
                [files] if isinstance(files, str) else files or [],
            )
        )
    return rows


def scenes_from_globs(globs: dict, base, bands=None) -> list[Scene]:
    """One scene per file matched by ``globs`` ({split: [pattern, ...]}), named by its stem."""
    base = Path(base)
    scenes = []
    for split, patterns in globs.items():
        _check_split(split, "config data.scene_globs")
        patterns = [patterns] if isinstance(patterns, str) else patterns
        for pattern in patterns:
            full = pattern if Path(pattern).is_absolute() else str(base / pattern)
            matched = sorted(glob.glob(full))
            if not matched:
                raise DstlError(f"config data.scene_globs.{split}: {pattern!r} matches no file")
            for f in matched:
                where = f"config data.scene_globs.{split}: {f}"
                scenes.append(
                    Scene(
                        _check_id(Path(f).stem, where),
                        split,
                        (SceneFile(Path(f), _bands_for(0, bands)),),
                    )
                )
    return check_scenes(scenes, "config data.scene_globs")


def check_scenes(scenes: list[Scene], where: str) -> list[Scene]:
    seen: dict[str, str] = {}
    for s in scenes:
        if s.id in seen:
            raise DstlError(f"{where}: scene {s.id} is listed twice")
        seen[s.id] = s.split
    return scenes
