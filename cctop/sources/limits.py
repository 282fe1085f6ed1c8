"""What a value must be to reach the ledger and the store, for every source alike.

Outside these a record is rejected and counted, never clamped: a count of 1e308 or 2^63
broke sums, the JSON output and the store; a timestamp in year 1 or 9999 broke every date
shown; a cost of -1e9 showed as "today $-999999999.24".
"""

from __future__ import annotations

MAX_COUNT = 2**53  # exclusive, for token counts and (in dollars) costs: exact in a float
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z
LATEST = 4102444800.0  # 2100-01-01T00:00:00Z, exclusive


class OutOfRange(ValueError):
    """A count, cost or timestamp no real source produces: the record is rejected."""


def time_in_range(seconds: float) -> bool:
    return EARLIEST <= seconds < LATEST


def checked_seconds(seconds: float | None, what: str = "time") -> float | None:
    if seconds is not None and not EARLIEST <= seconds < LATEST:  # NaN fails this too
        raise OutOfRange(f"{what} {seconds}")
    return seconds


def checked_amount(value: float, what: str = "value") -> float:
    """A count or cost already made a number: finite, >= 0 and < 2^53."""
    if 0.0 <= value < MAX_COUNT:  # NaN fails this too
        return value
    raise OutOfRange(f"{what} {value}")


def out_of_range(items: int, kind: str = "line(s)") -> str:
    """The warning for rejected records (the same words for files and telemetry)."""
    return (
        f"rejected {items} {kind} with a token count, cost or time out of range "
        "(negative, not finite, >= 2^53, or before 2000 / after 2100)"
    )
