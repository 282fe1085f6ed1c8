"""Loads the price table: the packaged prices.toml, then the user's overrides on top."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from cctop.model.pricing import PriceBook

PACKAGED = "prices.toml"
ENV_VAR = "CCTOP_PRICES"


def default_user_file() -> Path:
    """$CCTOP_PRICES, else $XDG_CONFIG_HOME/cctop/prices.toml, else ~/.config/cctop/prices.toml."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "cctop" / "prices.toml"


def packaged_pricebook() -> PriceBook:
    return PriceBook(tomllib.loads(_packaged_text()))


def _packaged_text() -> str:
    """The packaged prices.toml, read beside the package: importlib.resources imports ~5 ms
    of modules (zipfile among them) that a cold --once would wait on before its workers
    start. Only where that fails (a zipped install) it asks importlib.resources."""
    try:
        return (Path(__file__).parent.parent / "data" / PACKAGED).read_text(encoding="utf-8")
    except OSError:
        from importlib import resources

        return resources.files("cctop").joinpath("data").joinpath(PACKAGED).read_text(encoding="utf-8")


def load_pricebook(user_file: Path | None = None) -> tuple[PriceBook, list[str]]:
    """The packaged book merged with the user file, plus human-readable warnings.

    A missing user file is normal (no warning); an unreadable or invalid one is reported
    and ignored, so a typo never stops cctop from starting.
    """
    book = packaged_pricebook()
    warnings: list[str] = []
    path = user_file if user_file is not None else default_user_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if user_file is not None or os.environ.get(ENV_VAR):
            warnings.append(f"price file {path} not found; using built-in prices")
        return book, warnings
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"price file {path} could not be read ({exc}); using built-in prices")
        return book, warnings
    try:
        book = book.merged(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        warnings.append(f"price file {path} is not valid TOML ({exc}); ignored, using built-in prices")
    except ValueError as exc:
        warnings.append(f"price file {path}: {exc}; ignored, using built-in prices")
    return book, warnings
