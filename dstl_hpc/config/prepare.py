"""The user's config, made safe to validate: shortcuts, YAML surprises, non-finite numbers.

Runs in the Snakefile before the JSON schema (which cannot see these problems):

* ``--config data_dir=PATH`` is the shortcut for ``data.dir``. It only makes sense
  with a config whose ``data.source`` is ``dstl`` (``config/dstl.yaml``): on the
  synthetic demo it is refused, with the command to type instead, so that a user's
  data directory is never taken for the place where synthetic data is written.
* YAML reads an unquoted class key ``9:`` as the integer 9 and an unquoted DSTL id
  ``6140_3_1`` as the integer 614031. Class keys are turned back into strings (the
  schema would otherwise skip them and the setting be ignored); ids become digit
  strings that ``Plan`` maps back to the training id they stand for.
* ``.nan`` / ``.inf`` pass every ``minimum`` / ``maximum`` of a JSON schema: any
  non-finite number anywhere in the config is refused, naming its key.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from dstl_hpc.errors import DstlError


def refuse(exc: Exception) -> None:
    """Stop the workflow before any job: the one-line message of ``exc``, exit 2."""
    print(f"dstl-hpc: {exc}", file=sys.stderr)
    sys.exit(2)


def apply_data_dir(config: dict, from_configfile: bool) -> None:
    """Move the ``data_dir`` shortcut into ``data.dir``, or refuse it on synthetic data."""
    if "data_dir" not in config:
        return
    value = config.pop("data_dir")
    data = config.setdefault("data", {})
    if data.get("source", "synthetic") == "synthetic":
        hint = (
            "add --configfile config/dstl.yaml (the seed's settings for the DSTL data)"
            if not from_configfile
            else "set data: {source: dstl} in your config file"
        )
        raise DstlError(
            f"--config data_dir={value}: this config's data.source is synthetic, which "
            "generates its own data under <results>/data and reads no data directory; "
            f"to run your DSTL data, {hint}"
        )
    data["dir"] = None if value is None else str(value)


def _string_keys(mapping: Any, where: str) -> None:
    """Turn integer keys (YAML's reading of ``9:``) into strings, in place."""
    if not isinstance(mapping, dict):
        return
    for key in [k for k in mapping if not isinstance(k, str)]:
        text = str(key)
        if text in mapping:
            raise DstlError(f"config {where}: key {text} is given twice (as {key!r} and {text!r})")
        mapping[text] = mapping.pop(key)


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise DstlError(f"config {where}: {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def prepare_config(config: dict, from_configfile: bool) -> None:
    """Everything the JSON schema cannot check or would misreport, in place."""
    apply_data_dir(config, from_configfile)
    _string_keys(config.get("classes"), "classes")
    _string_keys(config.get("groups"), "groups")
    ids = config.get("validation_ids")
    if isinstance(ids, list):
        config["validation_ids"] = [
            str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in ids
        ]
    _check_finite(config, "")
