"""Small converters for OTLP attribute values.

Claude Code changed attribute types over versions (numbers arrived as strings before
2.1.122), so every number is read leniently. Strings that may reach a terminal are
stripped of control characters here, once, at the edge.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cctop.sources.limits import OutOfRange, checked_amount

# C0 controls, DEL and C1 controls: enough to smuggle terminal escape sequences.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(text: str, limit: int = 200) -> str:
    """A string safe to display: no control characters, at most ``limit`` chars."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.isprintable() else _CONTROL.sub("?", text)


def any_value(value: Any) -> Any:
    """An ``AnyValue`` message as a plain Python value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    """A repeated ``KeyValue`` field as a dict (the last duplicate key wins).

    The hot path of every request: string values, by far the most common, are read
    without the generic dispatch."""
    out: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = value.string_value
        elif kind in _SCALARS:
            out[kv.key] = getattr(value, kind)
        else:
            out[kv.key] = any_value(value)
    return out


_SCALARS = frozenset({"int_value", "double_value", "bool_value"})


def to_float(value: Any) -> float | None:
    """A finite float from an int, double, bool or numeric string; else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_int(value: Any, default: int = 0) -> int:
    """A non-negative int from any numeric form ("1234", 1234, 1234.0); else ``default``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else default
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    number = to_float(value)
    if number is None or number < 0:
        return default
    return int(number)


def to_opt_int(value: Any) -> int | None:
    number = to_float(value)
    return None if number is None else int(number)


def to_text(value: Any, limit: int = 200) -> str | None:
    """A display-safe string for any attribute value, None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean(value if isinstance(value, str) else str(value), limit)


def to_bool(value: Any) -> bool | None:
    """``success`` is the string "true"/"false" in every Claude Code version seen."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return None
    if isinstance(value, (int, float)):
        return bool(value)
    return None


def checked_count(value: Any, what: str) -> int:
    """A token count from any numeric form; 0 when absent or not a number; OutOfRange when
    negative, not finite or >= 2^53 (rejected, never clamped)."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return int(checked_amount(value, what)) if not 0 <= value < 2**53 else value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return 0
    elif isinstance(value, float):
        number = value
    else:
        return 0
    return int(checked_amount(number, what))


def checked_cost(value: Any) -> float | None:
    """A cost in dollars: None when absent or not a number, OutOfRange when negative, not
    finite or huge."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return checked_amount(number, "cost")


__all__ = ["OutOfRange", "checked_cost", "checked_count", "clean"]
