"""Prices an ApiCall in USD from a price table (pure: the table arrives as a mapping).

The table is keyed by normalised model id, figures in $/MTok (see cctop/data/prices.toml).
Per call: pick fast, long-context or base rates, apply the US-only inference premium,
price 5m and 1h cache writes separately, add web searches. All rate variants are built
once per model, so pricing a call allocates nothing but the float result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import msgspec
from msgspec.structs import force_setattr

from cctop.model.records import ApiCall

PER_MTOK = 1e-6
WEB_SEARCH_USD = 0.01  # $10 per 1,000 searches, every model; not subject to the geo premium
US_GEO_MULTIPLIER = 1.1
SYNTHETIC_MODEL = "<synthetic>"  # Claude Code's locally made messages: never billed
# Claude Code shows 200K unless a "[1m]" model was picked or a prompt outgrew it, except for
# models whose table says otherwise (claude_code_window: Opus 4.8, Opus 5.5, Sonnet 5.5).
DEFAULT_CONTEXT_WINDOW = 200_000
ONE_MILLION_BETA = "context-1m"  # the beta header prefix that opens a model's full window


class Rates(msgspec.Struct, frozen=True):
    """Effective USD per token for one call, after tier/fast/geo modifiers."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    def scaled(self, factor: float) -> Rates:
        return Rates(
            self.input * factor,
            self.output * factor,
            self.cache_write_5m * factor,
            self.cache_write_1h * factor,
            self.cache_read * factor,
        )


class ModelPrice(msgspec.Struct, frozen=True):
    """One model's entry. Rates are per token; variants are precomputed for speed."""

    name: str
    base: Rates
    context_window: int | None = None
    claude_code_window: int | None = None  # what Claude Code gives a session without "[1m]"
    max_output: int | None = None
    long_context_threshold: int | None = None  # prompt tokens above which the tier applies
    long_context: Rates | None = None
    long_context_until: float | None = None  # POSIX seconds; calls from then on are flat
    fast: Rates | None = None
    us_geo: bool = False  # inference_geo "us" multiplies every token category by 1.1
    effective_from: str | None = None
    # Same variants times the US premium (the plain ones when us_geo is False); derived
    # in __post_init__ so a hand-built ModelPrice is always complete.
    base_us: Rates | None = None
    long_context_us: Rates | None = None
    fast_us: Rates | None = None

    def __post_init__(self) -> None:
        geo = US_GEO_MULTIPLIER if self.us_geo else 1.0
        for plain, us in (("base", "base_us"), ("long_context", "long_context_us"), ("fast", "fast_us")):
            rates = getattr(self, plain)
            if getattr(self, us) is None and rates is not None:
                force_setattr(self, us, rates.scaled(geo) if self.us_geo else rates)


_RATE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_MODEL_KEYS = frozenset(
    {*_RATE_KEYS, "context_window", "claude_code_window", "max_output", "us_geo", "aliases", "effective_from",
     "long_context", "fast"}
)
_TIER_KEYS = frozenset({*_RATE_KEYS, "threshold", "until"})

_SYNTHETIC = ModelPrice(SYNTHETIC_MODEL, Rates(0.0, 0.0, 0.0, 0.0, 0.0))

# Normalisation steps of the research notes (section 3), compiled once.
_REGION_PREFIX = re.compile(r"^(?:global|us|eu|apac|au|jp|us-gov)\.")
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")
_DATE_SUFFIX = re.compile(r"-\d{8}$")
_DATE = re.compile(r"\d{8}")


def _number(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}: {key} must be a non-negative number, got {value!r}")
    return float(value)


def _optional_int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


def _rates(table: Mapping[str, Any], where: str, defaults: Rates | None = None) -> Rates:
    """$/MTok table -> per-token Rates. Missing cache rates follow the published rule
    (5m = 1.25x, 1h = 2x, read = 0.1x input) unless ``defaults`` (per token) supplies them."""
    for key in ("input", "output"):
        if key not in table:
            raise ValueError(f"{where}: missing {key!r}")
    inp = _number(table, "input", where)
    out = _number(table, "output", where)

    def cache(key: str, multiplier: float, default: float | None) -> float:
        if key in table:
            return _number(table, key, where) * PER_MTOK
        return default if default is not None else inp * multiplier * PER_MTOK

    return Rates(
        inp * PER_MTOK,
        out * PER_MTOK,
        cache("cache_write_5m", 1.25, defaults.cache_write_5m if defaults else None),
        cache("cache_write_1h", 2.0, defaults.cache_write_1h if defaults else None),
        cache("cache_read", 0.1, defaults.cache_read if defaults else None),
    )


_PLAIN_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_to_posix(value: Any, where: str) -> float:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    try:
        if _PLAIN_DAY.fullmatch(text[:10]):  # as strptime reads it, without importing it (~1 ms)
            day = datetime(int(text[:4]), int(text[5:7]), int(text[8:10]))
        else:
            day = datetime.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{where}: until must be a date YYYY-MM-DD, got {value!r}") from None
    return day.replace(tzinfo=timezone.utc).timestamp()


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")


def parse_model(name: str, table: Mapping[str, Any]) -> ModelPrice:
    """Build one ModelPrice from its $/MTok table; raises ValueError naming the problem."""
    where = f"[{name}]"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: expected a table, got {table!r}")
    _check_keys(table, _MODEL_KEYS, where)
    base = _rates(table, where)

    long_context = threshold = until = None
    tier = table.get("long_context")
    if tier is not None:
        tier_where = f"[{name}.long_context]"
        if not isinstance(tier, Mapping):
            raise ValueError(f"{tier_where}: expected a table")
        _check_keys(tier, _TIER_KEYS, tier_where)
        long_context = _rates(tier, tier_where)
        threshold = _optional_int(tier, "threshold", tier_where) or DEFAULT_CONTEXT_WINDOW
        if tier.get("until") is not None:
            until = _date_to_posix(tier["until"], tier_where)

    fast = None
    fast_table = table.get("fast")
    if fast_table is not None:
        fast_where = f"[{name}.fast]"
        if not isinstance(fast_table, Mapping):
            raise ValueError(f"{fast_where}: expected a table")
        _check_keys(fast_table, frozenset(_RATE_KEYS), fast_where)
        # The fast multiplier applies to cache rates too: derive them from the input ratio.
        ratio = _number(fast_table, "input", fast_where) * PER_MTOK / base.input if base.input else 1.0
        fast = _rates(fast_table, fast_where, defaults=base.scaled(ratio))

    us_geo = table.get("us_geo", False)
    if not isinstance(us_geo, bool):
        raise ValueError(f"{where}: us_geo must be true or false")
    effective_from = table.get("effective_from")
    return ModelPrice(
        name=name,
        base=base,
        context_window=_optional_int(table, "context_window", where),
        claude_code_window=_optional_int(table, "claude_code_window", where),
        max_output=_optional_int(table, "max_output", where),
        long_context_threshold=threshold,
        long_context=long_context,
        long_context_until=until,
        fast=fast,
        us_geo=us_geo,
        effective_from=str(effective_from) if effective_from is not None else None,
    )


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (recursively); anything else is replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def _boundary_ok(rest: str) -> bool:
    """May a table id be followed by ``rest`` in a longer id? Only if the next segment is
    not a version number: ``claude-opus-4`` + ``-9-foo`` would be another model, while a
    date or a word (``-fast-preview``, ``-latest``) is a variant of the same one."""
    if not rest.startswith("-"):
        return False
    segment = rest[1:].split("-", 1)[0]
    return not segment[:1].isdigit() or bool(_DATE.fullmatch(segment))


class PriceBook:
    """Resolves model ids from logs to prices and prices ApiCalls."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        # Non-table top-level values (e.g. a schema number) are not models.
        self._source: dict[str, Any] = {k: v for k, v in models.items() if isinstance(v, Mapping)}
        self._models: dict[str, ModelPrice] = {}
        for name, table in self._source.items():
            key = name.strip().lower()
            price = parse_model(key, table)
            self._models[key] = price
            aliases = table.get("aliases", ())
            if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) for a in aliases):
                raise ValueError(f"[{name}]: aliases must be a list of strings")
            for alias in aliases:
                self._models.setdefault(alias.strip().lower(), price)
        # Longest first, so the prefix fallback finds the most specific model.
        self._by_length = sorted(self._models, key=len, reverse=True)
        self._resolved: dict[str, ModelPrice | None] = {}
        self._normalized: dict[str, str] = {}
        self._unknown: set[str] = set()

    def merged(self, overrides: Mapping[str, Any]) -> PriceBook:
        """A new book where the user's tables add models or replace single keys of existing ones."""
        return PriceBook(_merge(self._source, {k: v for k, v in overrides.items() if isinstance(v, Mapping)}))

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        return self._models

    def _clean(self, model_id: str) -> str:
        """Steps 1-5: case, ``[1m]``, path prefixes, cloud region and version decorations."""
        text = model_id.strip().lower().replace("[1m]", "")
        text = text.rsplit("/", 1)[-1]
        text = _REGION_PREFIX.sub("", text, count=1)
        if text.startswith("anthropic."):
            text = text[len("anthropic."):]
        text = _VERSION_SUFFIX.sub("", text)
        return _DOTTED_VERSION.sub("-", text.replace("@", "-"))

    def _lookup(self, cleaned: str) -> str | None:
        """Steps 6-7: exact, exact without a date, then longest prefix on a version boundary."""
        if cleaned in self._models:
            return cleaned
        undated = _DATE_SUFFIX.sub("", cleaned)
        if undated in self._models:
            return undated
        for name in self._by_length:
            if cleaned.startswith(name) and _boundary_ok(cleaned[len(name):]):
                return name
        return None

    def normalize(self, model_id: str) -> str:
        """The table id a raw model id prices as, or its cleaned form when unknown."""
        cached = self._normalized.get(model_id)
        if cached is None:
            cleaned = self._clean(model_id)
            cached = self._lookup(cleaned) or cleaned
            self._normalized[model_id] = cached
        return cached

    def resolve(self, model_id: str) -> ModelPrice | None:
        """The price entry for a raw model id; None (and remembered as unknown) if none."""
        try:
            return self._resolved[model_id]
        except KeyError:
            pass
        if model_id == SYNTHETIC_MODEL:
            price: ModelPrice | None = _SYNTHETIC
        else:
            name = self._lookup(self._clean(model_id)) if model_id.strip() else None
            # Never a family default: an unmatched id stays unpriced.
            price = self._models[name] if name else None
            if price is None and model_id.strip():
                self._unknown.add(model_id)
        self._resolved[model_id] = price
        return price

    def rates_for(self, call: ApiCall) -> Rates | None:
        """Per-token rates for this call after fast / long-context / US-geo modifiers."""
        try:  # resolve()'s cache, read here: every call of every snapshot comes this way
            price = self._resolved[call.model]
        except KeyError:
            price = self.resolve(call.model)
        if price is None:
            return None
        us = call.inference_geo == "us"
        # A fast call on a model without fast prices is priced at standard rates: the
        # flag is then most likely a log quirk, and inventing a multiplier would be a guess.
        if call.speed == "fast" and price.fast is not None:
            return price.fast_us if us else price.fast  # fast replaces the long-context tier
        if price.long_context is not None and self._in_tier(price, call):
            return price.long_context_us if us else price.long_context
        return price.base_us if us else price.base

    @staticmethod
    def _in_tier(price: ModelPrice, call: ApiCall) -> bool:
        until = price.long_context_until
        # A call without a timestamp is taken as current, i.e. after any tier ended.
        if until is not None and (call.timestamp is None or call.timestamp >= until):
            return False
        five, hour = call.cache_writes
        prompt = call.input_tokens + five + hour + call.cache_read_tokens
        return prompt > (price.long_context_threshold or DEFAULT_CONTEXT_WINDOW)

    def price(self, call: ApiCall) -> float | None:
        """USD for one deduplicated call; None if the model can't be priced.

        For an unknown model the producer's own reported cost (old ``costUSD``) is used
        when present; for a known model cctop's figure always wins.
        """
        rates = self.rates_for(call)
        if rates is None:
            return call.reported_cost_usd
        if rates is _SYNTHETIC.base:
            return 0.0
        cc_5m, cc_1h = call.cache_writes
        return (
            call.input_tokens * rates.input
            + call.output_tokens * rates.output
            + cc_5m * rates.cache_write_5m
            + cc_1h * rates.cache_write_1h
            + call.cache_read_tokens * rates.cache_read
            + call.web_search_requests * WEB_SEARCH_USD
        )

    def context_window(
        self, model_id: str, prompt_tokens: int = 0, betas: Iterable[str] = ()
    ) -> int | None:
        """The window a context gauge should use: what Claude Code gives a session of this
        model (``claude_code_window``; else 200K or less), or the model's full window when the
        id carries ``[1m]``, a ``context-1m-*`` beta was sent, or a prompt already exceeded
        the smaller one; None for unknown models."""
        price = self.resolve(model_id)
        if price is None or price.context_window is None:
            return None
        window = price.context_window
        default = price.claude_code_window or min(window, DEFAULT_CONTEXT_WINDOW)
        one_million = "[1m]" in model_id.lower() or any(b.startswith(ONE_MILLION_BETA) for b in betas)
        if one_million or prompt_tokens > default:
            return max(window, default)
        return default

    def unknown_models(self) -> frozenset[str]:
        return frozenset(self._unknown)
