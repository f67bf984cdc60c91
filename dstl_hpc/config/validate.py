"""The config checked against its JSON schema, with the schema's defaults filled in.

``validate_config(config)`` replaces Snakemake's ``snakemake.utils.validate``: it fills
in every ``default`` of the schema the way ``validate`` did (``setdefault`` on each
object the schema describes with ``properties``: in practice the top-level keys, the
others are layered by ``Plan``), and turns the errors into ONE line naming the key,
e.g. ``config groups.buildings.epochs: -3 is less than the minimum of 1``, instead of
Snakemake's dump of the schema. Of several errors the most relevant one is reported
(``jsonschema.exceptions.best_match``); an unknown key is named with the nearest known
key (``difflib``).

The schema is ``workflow/schemas/config.schema.yaml`` (written by
``python -m dstl_hpc.config.schema``), read once per process. No numpy, no torch: the
Snakefile calls it.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterable
from pathlib import Path

from dstl_hpc.errors import DstlError

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
MAX_MESSAGE = 240  # characters of jsonschema's message kept (it may repeat a whole object)


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _validator_class():
    """Draft 2020-12 whose ``properties`` first fills in each property's ``default``
    (the recipe of the jsonschema FAQ, as Snakemake's ``validate`` uses it)."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": properties_with_defaults})


def key_path(parts: Iterable) -> str:
    """``groups.buildings.epochs``, ``sweep_thresholds[2]``: a key path as the user writes it."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _where(path: str) -> str:
    return f"config {path}" if path else "config"


def _unknown_keys(error) -> str:
    """``config defaults.epochz: unknown key; did you mean 'epochs'?`` (the first unknown)."""
    known = list(error.schema.get("properties", {}))
    patterns = error.schema.get("patternProperties", {})
    unknown = [
        k
        for k in error.instance
        if k not in known and not any(re.search(p, str(k)) for p in patterns)
    ]
    where = key_path(error.absolute_path)
    if not unknown:  # not expected: fall back on jsonschema's words
        return f"{_where(where)}: {error.message}"
    name = unknown[0]
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    return f"{_where(key_path([*error.absolute_path, name]))}: unknown key{more}; {hint}"


def _expected(schema) -> str:
    """What one branch of an ``anyOf`` admits, in words."""
    if not isinstance(schema, dict):
        return "?"
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " or ".join(repr(v) for v in schema["enum"])
    kinds = schema.get("type", "a value")
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_line(error) -> str:
    """One line for a jsonschema ValidationError: the key path and the problem."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_keys(error)
    message = " ".join(str(error.message).split())
    if error.validator in ("anyOf", "oneOf") and isinstance(error.validator_value, list):
        choices = ", ".join(_expected(s) for s in error.validator_value)
        message = f"{_short(error.instance)} is not valid: expected {choices}"
    elif "propertyNames" in error.schema_path:
        message = f"key {message} (names are letters, digits and '_')"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{_where(key_path(error.absolute_path))}: {message}"


def validate_config(config: dict, schema_file: str | Path = SCHEMA_FILE) -> None:
    """Fill in the schema's defaults (in place) and check ``config`` against the schema;
    DstlError with one line naming the key of the most relevant error."""
    from jsonschema.exceptions import best_match

    if not isinstance(config, dict):
        raise DstlError(
            f"config: expected a mapping of keys at the top level, got {type(config).__name__}"
        )
    schema = _schema(str(schema_file))
    validator = _validator_class()(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise DstlError(error_line(error))
