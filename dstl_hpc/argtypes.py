"""argparse types that refuse what no step can use: NaN, inf, 0 batches, negative sizes.

argparse turns an ``ArgumentTypeError`` into a one-line usage error and exit 2.
"""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def probability(text: str) -> float:
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _int_at_least(text: str, low: int) -> int:
    value = _int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0)


def class_type(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"must be a ClassType in 1..10, got {value}")
    return value


def json_object(text: str, where: str) -> dict:
    """A JSON object given on the command line (``--settings``, ``--spec``...), or a
    one-line DstlError naming ``where``."""
    import json

    from dstl_hpc.errors import DstlError

    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise DstlError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise DstlError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj
