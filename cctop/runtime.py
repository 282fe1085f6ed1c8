"""Wiring shared by ``--once`` and the TUI: prices, roots, the ledger and its sources."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from cctop.format import safe_text
from cctop.model.ledger import Ledger
from cctop.prices import load_pricebook
from cctop.sources.discovery import default_roots, unique_roots


@dataclass
class Runtime:
    ledger: Ledger
    roots: list[Path]
    warnings: list[str] = field(default_factory=list)
    pricebook: object = None
    cache_summaries: bool = False  # whether sessions carry a cache summary

    def warn(self, message: str) -> None:
        self.ledger.warn(message)


def make_runtime(args: argparse.Namespace) -> Runtime:
    pricebook, price_warnings = load_pricebook(args.prices)
    summarizer = _cache_summarizer(pricebook)
    ledger = Ledger(pricebook, cache_summarizer=summarizer)
    roots = unique_roots(args.claude_dir) if args.claude_dir else default_roots()
    runtime = Runtime(ledger, roots, pricebook=pricebook, cache_summaries=summarizer is not None)
    for message in price_warnings:
        runtime.warn(message)
    return runtime


def open_store(args: argparse.Namespace, warn):
    """The history store for these arguments, or None (``--no-store``, or unusable: said on stderr)."""
    if getattr(args, "no_store", False):
        return None
    from cctop.sources.store import Store, StoreError, default_path

    path = args.store if getattr(args, "store", None) else default_path()
    try:
        return Store.open(path, warn, rebuild=getattr(args, "rebuild", False))
    except StoreError as exc:
        import sys

        print(f"cctop: {exc}; continuing without the store", file=sys.stderr)
        return None


def say_store_failed(path: Path, exc: Exception) -> None:
    """On stderr: the store broke mid-run (past what opening it could tell); the caller reads
    the transcripts instead."""
    import sys

    print(
        f"cctop: the store {safe_text(str(path))} failed ({exc}); reading the transcripts instead. "
        "Run 'cctop --once --rebuild' to rebuild it.",
        file=sys.stderr,
    )


def _cache_summarizer(pricebook):
    try:
        from cctop.model.cache import make_summarizer
    except ImportError:
        return None
    return make_summarizer(pricebook)


def missing_roots_message(roots: list[Path]) -> str:
    looked = "\n".join(f"  {safe_text(root)}" for root in roots)  # paths may hold anything
    return (
        "No Claude Code transcripts found. Looked in:\n"
        f"{looked}\n"
        "Point cctop elsewhere with --claude-dir PATH (repeatable) or CLAUDE_CONFIG_DIR, "
        "or receive telemetry with --otlp (see 'cctop otlp-env')."
    )
