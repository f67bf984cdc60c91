"""The config the workflow runs: read, merged, prepared and validated, in one place.

Two callers do the same steps:

* the Snakefile, on the ``config`` Snakemake read from ``--configfile`` and
  ``--config`` (``workflow_config``);
* ``dstl-hpc check-config FILE...``, which reads the files itself
  (``read_config_file``: as Snakemake reads them, JSON first, then YAML, but a file
  that is not text or not YAML is one line, not a traceback) and merges them in order
  (``merge_config``, Snakemake's ``update_config``).

``workflow_config`` then puts the embedded demo (``config/config.yaml``) under a
config that gives neither ``data`` nor ``groups`` (``--config key=value`` changes
the demo; a run's config file replaces it whole), prepares it
(``dstl_hpc.config.prepare``) and checks it against the JSON schema, filling in the
schema's defaults (``dstl_hpc.config.validate``). No numpy, no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from dstl_hpc.config.prepare import prepare_config
from dstl_hpc.config.validate import validate_config
from dstl_hpc.errors import DstlError
from dstl_hpc.paths import check_regular

ROOT = Path(__file__).resolve().parents[2]


def _text(path: Path) -> str:
    """The file's text; DstlError naming it when it is not UTF-8 text."""
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DstlError(
            f"{path}: not a text file (a NUL byte at offset {nul}); a config is YAML or JSON text"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DstlError(
            f"{path}: not a text file (byte 0x{data[exc.start]:02x} at offset {exc.start} is "
            "not UTF-8); a config is YAML or JSON text"
        ) from None


def _yaml_problem(text: str, exc: Exception) -> str:
    """`` (line L, column C): problem`` of a YAML error (yte re-raises them without
    their position: the plain parser finds it again)."""
    import yaml

    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as marked:
        exc = marked
    except yaml.YAMLError:
        pass
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or ["?"])[0]
    return f"{where}: {problem}"


def read_config_file(path: str | Path) -> dict:
    """One config file as Snakemake reads ``--configfile``: JSON, else YAML (through
    yte, as Snakemake does); DstlError naming the file for anything else."""
    import yaml

    path = check_regular(path)
    text = _text(path)
    try:
        config = json.loads(text)
    except ValueError:
        try:
            import yte

            config = yte.process_yaml(text, require_use_yte=True)
        except ImportError:  # pragma: no cover - yte comes with Snakemake
            config = None
        except yaml.YAMLError as exc:
            raise DstlError(f"{path}: not valid YAML or JSON{_yaml_problem(text, exc)}") from None
        except Exception as exc:  # yte's own errors (a __use_yte__ template)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DstlError(f"{path}: not valid YAML or JSON: {first}") from None
    if not isinstance(config, dict):
        got = "nothing (an empty file)" if config is None else type(config).__name__
        raise DstlError(f"{path}: a config maps keys to values at its top level, got {got}")
    return config


def merge_config(base: dict, update: dict) -> dict:
    """``update`` merged into ``base`` in place, mapping by mapping (Snakemake's
    ``update_config``: later config files and ``--config`` win key by key)."""
    for key, value in update.items():
        if isinstance(value, dict):
            inner = base.get(key)
            base[key] = merge_config(inner if isinstance(inner, dict) else {}, value)
        else:
            base[key] = value
    return base


def workflow_config(config: dict, basedir: str | Path = ROOT) -> bool:
    """Make ``config`` (in place) the config the workflow runs: the demo under a config
    without ``data`` and ``groups``, prepared, validated with the schema's defaults
    filled in. Returns whether the config came from a run's config file."""
    basedir = Path(basedir)
    from_configfile = "data" in config or "groups" in config
    if not from_configfile:
        demo = read_config_file(basedir / "config" / "config.yaml")
        merge_config(demo, config)  # --config key=value still wins
        config.clear()
        config.update(demo)
    prepare_config(config, from_configfile)
    validate_config(config, basedir / "workflow" / "schemas" / "config.schema.yaml")
    return from_configfile
