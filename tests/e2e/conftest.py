"""Fixtures for the end-to-end tests (helpers live in harness.py)."""

from __future__ import annotations

import pytest

from .harness import find_or_install_claude


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """The pinned Claude Code CLI: found, or installed once into .e2e-cache/ (else the test skips)."""
    return find_or_install_claude()
