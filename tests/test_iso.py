"""Timestamps written by reports: the fast path gives what datetime gives, to the byte."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

import pytest

from cctop.model.iso import utc_iso


def by_datetime(timestamp: float) -> str:
    text = datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def test_random_timestamps_of_every_era_and_fraction():
    rng = random.Random(7)
    values = [rng.uniform(0, 4_102_444_800) for _ in range(20_000)]  # 1970 to 2100
    values += [rng.uniform(1.7e9, 1.8e9) for _ in range(20_000)]
    values += [round(v, 3) for v in values[:5000]] + [float(int(v)) for v in values[:1000]]
    for value in values:
        assert utc_iso(value) == by_datetime(value), value


@pytest.mark.parametrize(
    "value",
    [0, 0.0, 1, 59.9995, 59.9999995, 3599.9999996, 86399.99999951, 1_790_000_000, 1_790_000_000.0005,
     1_790_000_000.9995, 1_790_000_000.999999, 1_790_000_000.9999995, 1_790_000_000.4999995,
     1_709_164_800.5, 951_782_400.0, 253_402_300_799.0, 253_402_300_799.999],
)  # fmt: skip
def test_edges_of_seconds_hours_days_and_the_rounding(value):
    assert utc_iso(value) == by_datetime(value)


def test_what_datetime_refuses_it_refuses_too():
    assert utc_iso(None) is None
    assert utc_iso(-1.5) == by_datetime(-1.5)
    for bad in (math.nan, math.inf, 1e20):
        with pytest.raises((ValueError, OverflowError, OSError)):
            by_datetime(bad)
        with pytest.raises((ValueError, OverflowError, OSError)):
            utc_iso(bad)
