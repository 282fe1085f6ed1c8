"""Wiring shared by ``--once`` and the TUI: prices, roots, the ledger and its sources."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from cctop.model.ledger import Ledger
from cctop.prices import load_pricebook
from cctop.sources.discovery import default_roots, unique_roots


@dataclass
class Runtime:
    ledger: Ledger
    roots: list[Path]
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.ledger.warn(message)


def make_runtime(args: argparse.Namespace) -> Runtime:
    pricebook, price_warnings = load_pricebook(args.prices)
    ledger = Ledger(pricebook, cache_summarizer=_cache_summarizer(pricebook))
    roots = unique_roots(args.claude_dir) if args.claude_dir else default_roots()
    runtime = Runtime(ledger, roots)
    for message in price_warnings:
        runtime.warn(message)
    return runtime


def _cache_summarizer(pricebook):
    try:
        from cctop.model.cache import make_summarizer
    except ImportError:
        return None
    return make_summarizer(pricebook)


def missing_roots_message(roots: list[Path]) -> str:
    looked = "\n".join(f"  {root}" for root in roots)
    return (
        "No Claude Code transcripts found. Looked in:\n"
        f"{looked}\n"
        "Point cctop elsewhere with --claude-dir PATH (repeatable) or CLAUDE_CONFIG_DIR, "
        "or receive telemetry with --otlp (see 'cctop otlp-env')."
    )
