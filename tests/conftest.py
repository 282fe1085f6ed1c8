"""Fixtures shared across the test files."""

from __future__ import annotations

import os
import time

import pytest


@pytest.fixture
def utc():
    """ "Today" starts at local midnight and clock columns show local time: pin the zone so
    windows and pictures are the same on every machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()
