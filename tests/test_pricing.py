"""Pricing: the shipped table, every modifier with hand-computed dollars, id normalisation,
the user override file, and Claude Code's own reported costs as ground truth."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from msgspec.structs import astuple

from cctop.model.pricing import PriceBook, Rates
from cctop.model.records import ApiCall, Source
from cctop.sources.prices import load_pricebook, packaged_pricebook

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"
CC_SAMPLES = SAMPLES / "claude-code-2.1.197"


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return packaged_pricebook()


def ts(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()


def call(model: str, **fields) -> ApiCall:
    return ApiCall("s", None, model, "msg", "req", fields.pop("timestamp", None), **fields)


def usd(dollars_per_mtok_times_tokens: float) -> float:
    """Hand figures below are written as sum(tokens x $/MTok); this turns them into USD."""
    return dollars_per_mtok_times_tokens / 1e6


# ---- the table ------------------------------------------------------------------------

# (id, input, output, 5m, 1h, read, context window, max output), copied by hand from the
# research price table.
TABLE = [
    ("claude-opus-4-5", 5, 25, 6.25, 10, 0.50, 200_000, 64_000),
    ("claude-opus-4-1", 15, 75, 18.75, 30, 1.50, 200_000, 32_000),
    ("claude-opus-4", 15, 75, 18.75, 30, 1.50, 200_000, 32_000),
    ("claude-sonnet-4-5", 3, 15, 3.75, 6, 0.30, 1_000_000, 64_000),
    ("claude-sonnet-4", 3, 15, 3.75, 6, 0.30, 1_000_000, 64_000),
    ("claude-3-7-sonnet", 3, 15, 3.75, 6, 0.30, 200_000, 64_000),
    ("claude-haiku-4-5", 1, 5, 1.25, 2, 0.10, 200_000, 64_000),
    ("claude-3-5-haiku", 0.80, 4, 1.00, 1.60, 0.08, 200_000, 8_192),
    ("claude-opus-4-6", 5, 25, 6.25, 10, 0.50, 1_000_000, 128_000),
    ("claude-sonnet-4-6", 3, 15, 3.75, 6, 0.30, 1_000_000, 128_000),
    ("claude-opus-4-7", 5, 25, 6.25, 10, 0.50, 1_000_000, 128_000),
    ("claude-opus-4-8", 5, 25, 6.25, 10, 0.50, 1_000_000, 128_000),
    ("claude-opus-5", 5, 25, 6.25, 10, 0.50, 1_000_000, 128_000),
    ("claude-opus-5-5", 4, 20, 5, 8, 0.20, 1_000_000, 128_000),
    ("claude-sonnet-5", 2, 10, 2.50, 4, 0.20, 1_000_000, 128_000),
    ("claude-sonnet-5-5", 2, 10, 2.50, 4, 0.20, 1_000_000, 128_000),
    ("claude-haiku-5-5", 0.10, 0.50, 0.125, 0.20, 0.01, 1_000_000, 128_000),
    ("claude-fable-5", 10, 50, 12.50, 20, 1.00, 1_000_000, 128_000),
    ("claude-mythos-5", 10, 50, 12.50, 20, 1.00, 1_000_000, 128_000),
    ("claude-fable-5-1", 10, 50, 12.50, 20, 0.25, 1_000_000, 128_000),
    ("claude-mythos-5-1", 10, 50, 12.50, 20, 0.25, 1_000_000, 128_000),
    ("claude-3-opus", 15, 75, 18.75, 30, 1.50, 200_000, 4_096),
    ("claude-3-haiku", 0.25, 1.25, 0.30, 0.50, 0.03, 200_000, 4_096),
]


@pytest.mark.parametrize("row", TABLE, ids=[r[0] for r in TABLE])
def test_every_model_has_its_published_rates(book: PriceBook, row: tuple) -> None:
    model, inp, out, w5, w1, read, ctx, max_out = row
    price = book.resolve(model)
    assert price is not None
    assert astuple(price.base) == pytest.approx(tuple(x / 1e6 for x in (inp, out, w5, w1, read)))
    assert (price.context_window, price.max_output) == (ctx, max_out)
    # One call with a million tokens of each kind costs the sum of the row's $/MTok figures.
    million = call(
        model, input_tokens=10**6, output_tokens=10**6, cache_creation_tokens=2 * 10**6,
        cache_creation_5m_tokens=10**6, cache_creation_1h_tokens=10**6, cache_read_tokens=10**6,
    )
    if price.long_context is None:
        assert book.price(million) == pytest.approx(inp + out + w5 + w1 + read)


def test_table_has_no_extra_models(book: PriceBook) -> None:
    assert set(book.models) == {r[0] for r in TABLE}


def test_fable_5_2_is_left_unpriced(book: PriceBook) -> None:
    assert book.resolve("claude-fable-5-2") is None
    assert book.price(call("claude-fable-5-2", input_tokens=100)) is None


# ---- cache writes ---------------------------------------------------------------------

def test_5m_and_1h_writes_and_the_unsplit_remainder(book: PriceBook) -> None:
    c = call("claude-opus-4-5", input_tokens=100, cache_creation_tokens=4000,
             cache_creation_5m_tokens=1000, cache_creation_1h_tokens=2000)
    # 1000 remainder joins the 5m writes: 100x5 + 2000x6.25 + 2000x10
    assert book.price(c) == pytest.approx(usd(500 + 12_500 + 20_000))


def test_aggregate_only_cache_writes_are_5m(book: PriceBook) -> None:
    c = call("claude-haiku-4-5", cache_creation_tokens=10_000, cache_read_tokens=50_000, output_tokens=300)
    assert book.price(c) == pytest.approx(usd(10_000 * 1.25 + 50_000 * 0.10 + 300 * 5))


# ---- long context ---------------------------------------------------------------------

def test_long_context_cliff_reprices_every_token(book: PriceBook) -> None:
    over = call("claude-sonnet-4-5", input_tokens=10_000, cache_read_tokens=190_000,
                cache_creation_tokens=1, cache_creation_5m_tokens=1, output_tokens=1000)
    assert book.price(over) == pytest.approx(usd(10_000 * 6 + 190_000 * 0.60 + 1 * 7.5 + 1000 * 22.5))
    at = call("claude-sonnet-4-5", input_tokens=10_000, cache_read_tokens=190_000, output_tokens=1000)
    assert book.price(at) == pytest.approx(usd(10_000 * 3 + 190_000 * 0.30 + 1000 * 15))


def test_long_context_1h_writes_cost_twice_the_tier_input(book: PriceBook) -> None:
    c = call("claude-sonnet-4", cache_creation_tokens=250_000, cache_creation_1h_tokens=250_000)
    assert book.price(c) == pytest.approx(usd(250_000 * 12))


def test_long_context_counts_cache_writes_in_the_threshold(book: PriceBook) -> None:
    # 190K read + 20K written: Anthropic prices the whole request at premium.
    c = call("claude-sonnet-4", cache_read_tokens=190_000, cache_creation_tokens=20_000)
    assert book.price(c) == pytest.approx(usd(190_000 * 0.60 + 20_000 * 7.50))


@pytest.mark.parametrize(
    ("model", "tier_input", "base_input"),
    [("claude-opus-4-6", 10, 5), ("claude-sonnet-4-6", 6, 3)],
)
def test_4_6_tier_ends_on_2026_03_13(
    book: PriceBook, model: str, tier_input: float, base_input: float
) -> None:
    before = call(model, input_tokens=300_000, timestamp=ts("2026-03-12T23:59:59"))
    after = call(model, input_tokens=300_000, timestamp=ts("2026-03-13T00:00:00"))
    undated = call(model, input_tokens=300_000)
    assert book.price(before) == pytest.approx(usd(300_000 * tier_input))
    assert book.price(after) == pytest.approx(usd(300_000 * base_input))
    assert book.price(undated) == pytest.approx(usd(300_000 * base_input))


def test_sonnet_4_5_tier_has_no_end_date(book: PriceBook) -> None:
    c = call("claude-sonnet-4-5", input_tokens=300_000, timestamp=ts("2026-11-01T00:00:00"))
    assert book.price(c) == pytest.approx(usd(300_000 * 6))


def test_later_models_are_flat(book: PriceBook) -> None:
    c = call("claude-opus-4-8", input_tokens=900_000, output_tokens=1000)
    assert book.price(c) == pytest.approx(usd(900_000 * 5 + 1000 * 25))


def test_haiku_5_5_tier_starts_above_100k(book: PriceBook) -> None:
    over = call("claude-haiku-5-5", input_tokens=100_001, output_tokens=10)
    at = call("claude-haiku-5-5", input_tokens=100_000, output_tokens=10)
    assert book.price(over) == pytest.approx(usd(100_001 * 0.50 + 10 * 2.50))
    assert book.price(at) == pytest.approx(usd(100_000 * 0.10 + 10 * 0.50))
    tier_1h = call("claude-haiku-5-5", input_tokens=100_000, cache_creation_tokens=1000,
                   cache_creation_1h_tokens=1000)
    assert book.price(tier_1h) == pytest.approx(usd(100_000 * 0.50 + 1000 * 1.00))


# ---- fast mode ------------------------------------------------------------------------

def every_kind(model: str, **fields) -> ApiCall:
    return call(model, input_tokens=1000, output_tokens=1000, cache_creation_tokens=2000,
                cache_creation_5m_tokens=1000, cache_creation_1h_tokens=1000, cache_read_tokens=1000,
                **fields)


@pytest.mark.parametrize(
    ("model", "expected_per_1000"),
    [
        ("claude-opus-4-6", 6 * (5 + 25 + 6.25 + 10 + 0.50)),
        ("claude-opus-4-7", 6 * (5 + 25 + 6.25 + 10 + 0.50)),
        ("claude-opus-4-8", 2 * (5 + 25 + 6.25 + 10 + 0.50)),
        ("claude-opus-5", 2 * (5 + 25 + 6.25 + 10 + 0.50)),
        ("claude-opus-5-5", 8 + 40 + 2 * (5 + 8 + 0.20)),
        # No fast price: standard rates.
        ("claude-sonnet-4-5", 3 + 15 + 3.75 + 6 + 0.30),
    ],
)
def test_fast_mode_multiplies_every_category(book: PriceBook, model: str, expected_per_1000: float) -> None:
    assert book.price(every_kind(model, speed="fast")) == pytest.approx(usd(1000 * expected_per_1000))


def test_fast_replaces_the_long_context_tier(book: PriceBook) -> None:
    c = call("claude-opus-4-6", input_tokens=300_000, speed="fast", timestamp=ts("2026-02-20T00:00:00"))
    assert book.price(c) == pytest.approx(usd(300_000 * 30))


def test_standard_speed_is_not_fast(book: PriceBook) -> None:
    assert book.price(every_kind("claude-opus-4-8", speed="standard")) == pytest.approx(usd(46_750))


# ---- web search and US-only inference ---------------------------------------------------

def test_web_search_costs_a_cent_each_on_every_model(book: PriceBook) -> None:
    assert book.price(call("claude-haiku-4-5", web_search_requests=3)) == pytest.approx(0.03)
    assert book.price(call("claude-3-opus", web_search_requests=1, output_tokens=100)) == pytest.approx(
        0.01 + usd(100 * 75)
    )


def test_us_geo_premium_on_tokens_not_searches(book: PriceBook) -> None:
    c = call("claude-opus-4-8", input_tokens=1000, web_search_requests=2, inference_geo="us")
    assert book.price(c) == pytest.approx(usd(1000 * 5 * 1.1) + 0.02)
    assert book.price(every_kind("claude-opus-4-8", inference_geo="us")) == pytest.approx(usd(46_750 * 1.1))


@pytest.mark.parametrize("geo", ["global", "not_available", "", None])
def test_other_geo_values_cost_nothing_extra(book: PriceBook, geo: str | None) -> None:
    assert book.price(every_kind("claude-opus-4-8", inference_geo=geo)) == pytest.approx(usd(46_750))


def test_us_geo_only_for_opus_4_6_and_newer(book: PriceBook) -> None:
    assert book.price(every_kind("claude-opus-4-5", inference_geo="us")) == pytest.approx(usd(46_750))
    assert book.price(every_kind("claude-sonnet-4-5", inference_geo="us")) == pytest.approx(usd(28_050))
    newer = {"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5",
             "claude-opus-5-5", "claude-sonnet-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5",
             "claude-mythos-5", "claude-fable-5-1", "claude-mythos-5-1"}
    assert {name for name, p in book.models.items() if p.us_geo} == newer


def test_us_geo_stacks_on_fast_and_on_the_tier(book: PriceBook) -> None:
    fast = every_kind("claude-opus-4-6", speed="fast", inference_geo="us")
    assert book.price(fast) == pytest.approx(usd(1000 * 6 * 46.75 * 1.1))
    tier = call("claude-sonnet-4-6", input_tokens=300_000, inference_geo="us",
                timestamp=ts("2026-03-01T00:00:00"))
    assert book.price(tier) == pytest.approx(usd(300_000 * 6 * 1.1))


# ---- special models and reported costs --------------------------------------------------

def test_synthetic_costs_nothing_and_is_not_unknown() -> None:
    book = packaged_pricebook()
    assert book.price(call("<synthetic>", input_tokens=10, output_tokens=10)) == 0.0
    odd = call("<synthetic>", input_tokens=10, speed="fast", inference_geo="us", web_search_requests=1)
    assert book.price(odd) == 0.0
    assert book.unknown_models() == frozenset()


def test_empty_and_unknown_models_are_unpriced() -> None:
    book = packaged_pricebook()
    assert book.price(call("", input_tokens=10)) is None
    assert book.price(call("gpt-5.4-mini", input_tokens=10)) is None
    assert book.rates_for(call("gpt-5.4-mini")) is None
    assert book.unknown_models() == frozenset({"gpt-5.4-mini"})


def test_reported_cost_only_when_the_model_is_unknown(book: PriceBook) -> None:
    old = call("claude-instant-1", input_tokens=10, reported_cost_usd=0.0123)
    assert book.price(old) == 0.0123
    known = call("claude-opus-4-8", input_tokens=1000, reported_cost_usd=99.0, source=Source.OTLP)
    assert book.price(known) == pytest.approx(usd(5000))


def test_sonnet_5_5_cache_read_stays_at_the_official_rate(book: PriceBook) -> None:
    c = call("claude-sonnet-5-5", cache_read_tokens=1_000_000, timestamp=ts("2026-11-01T00:00:00"))
    assert book.price(c) == pytest.approx(0.20)


# ---- id normalisation -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("claude-opus-4-8", "claude-opus-4-8"),
        ("Claude-Opus-4-8[1M]", "claude-opus-4-8"),
        ("claude-opus-5[1m]", "claude-opus-5"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("openrouter/anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5"),
        ("us.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
        ("us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("arn:aws:bedrock:us-east-1:1234:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0",
         "claude-sonnet-4"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("claude-opus-4.7", "claude-opus-4-7"),
        ("claude-opus-4-6-20260205", "claude-opus-4-6"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-haiku-4-5-fast-preview", "claude-haiku-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("  claude-opus-4-1  ", "claude-opus-4-1"),
    ],
)
def test_normalisation_finds_the_model(book: PriceBook, raw: str, expected: str) -> None:
    assert book.normalize(raw) == expected
    price = book.resolve(raw)
    assert price is not None and price.name == book.resolve(expected).name


@pytest.mark.parametrize(
    "raw",
    ["claude-opus-4-9-foo", "claude-opus-4-9", "claude-opus-45", "claude-sonnet-4-7", "claude-fable-5-2",
     "claude-opus", "gpt-5", "sonnet", "claude-3-5-sonnet-20241022"],
)
def test_normalisation_never_falls_back_to_a_family(book: PriceBook, raw: str) -> None:
    assert book.resolve(raw) is None
    assert raw in book.unknown_models()


def test_resolve_is_cached_per_raw_string(book: PriceBook) -> None:
    first = book.resolve("global.anthropic.claude-opus-4-5-20251101-v1:0")
    assert book.resolve("global.anthropic.claude-opus-4-5-20251101-v1:0") is first
    assert "global.anthropic.claude-opus-4-5-20251101-v1:0" in book._resolved


# ---- context window -------------------------------------------------------------------

def test_context_window_gauge(book: PriceBook) -> None:
    # What Claude Code itself reports for its default models: 1M (2.1.197's "Opus 4.8 (1M
    # context)"; 2.1.332's modelUsage contextWindow for Opus 5.5 and Sonnet 5.5).
    for model in ("claude-opus-4-8", "claude-opus-5-5", "claude-sonnet-5-5"):
        assert book.context_window(model) == 1_000_000
    # Others start at 200K, as Claude Code caps them (2.1.197 gave claude-sonnet-5 200000) ...
    assert book.context_window("claude-sonnet-5") == 200_000
    assert book.context_window("claude-opus-4-7") == 200_000
    # ... and open to the model's window with [1m], a context-1m beta, or a bigger prompt.
    assert book.context_window("claude-sonnet-5[1m]") == 1_000_000
    assert book.context_window("claude-sonnet-5", betas=["context-1m-2025-08-07"]) == 1_000_000
    assert book.context_window("claude-opus-4-7", prompt_tokens=200_001) == 1_000_000
    assert book.context_window("claude-opus-4-5", prompt_tokens=250_000) == 200_000
    assert book.context_window("claude-sonnet-4-5-20250929") == 200_000
    assert book.context_window("claude-sonnet-4-5-20250929", prompt_tokens=300_000) == 1_000_000
    assert book.context_window("claude-3-5-haiku") == 200_000
    assert book.context_window("mystery-model") is None


# ---- building and merging books ---------------------------------------------------------

def test_missing_cache_rates_follow_the_published_multipliers() -> None:
    book = PriceBook({"claude-new-1": {"input": 2.0, "output": 8.0}, "schema": 1})
    price = book.resolve("claude-new-1-20270101")
    assert price is not None
    assert astuple(price.base) == pytest.approx((2e-6, 8e-6, 2.5e-6, 4e-6, 0.2e-6))


def test_merge_overrides_single_keys_and_adds_models(book: PriceBook) -> None:
    merged = book.merged({"claude-opus-4-8": {"input": 4.0}, "my-proxy-model": {"input": 1, "output": 2}})
    assert merged.price(call("claude-opus-4-8", input_tokens=1000, output_tokens=1000)) == pytest.approx(
        usd(1000 * 4 + 1000 * 25)
    )
    assert merged.resolve("claude-opus-4-8").fast is not None  # untouched keys survive
    assert merged.price(call("my-proxy-model", output_tokens=1000)) == pytest.approx(usd(2000))
    # The original book is unchanged.
    assert book.price(call("claude-opus-4-8", input_tokens=1000)) == pytest.approx(usd(5000))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"m": {"input": "cheap", "output": 1}}, "input must be a non-negative number"),
        ({"m": {"output": 1}}, "missing 'input'"),
        ({"m": {"input": 1, "output": 1, "inptu": 2}}, "unknown key(s) inptu"),
        ({"m": {"input": 1, "output": 1, "long_context": {"input": 1, "output": 1, "until": "soon"}}},
         "until must be a date"),
        ({"m": {"input": 1, "output": 1, "aliases": "x"}}, "aliases must be a list"),
    ],
)
def test_invalid_tables_are_rejected_with_a_clear_message(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=r"\[m") as info:
        PriceBook(table)
    assert message in str(info.value)


# ---- loading the files ----------------------------------------------------------------

@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CCTOP_PRICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cctop" / "prices.toml"


def test_packaged_file_loads_without_warnings(no_user_config: Path) -> None:
    book, warnings = load_pricebook()
    assert warnings == []
    assert book.resolve("claude-opus-4-8") is not None


def test_user_file_in_xdg_config_home_is_applied(no_user_config: Path) -> None:
    no_user_config.parent.mkdir(parents=True)
    no_user_config.write_text(
        "[claude-opus-4-8]\noutput = 30\n\n[claude-fable-5-2]\ninput = 8\noutput = 40\n"
    )
    book, warnings = load_pricebook()
    assert warnings == []
    assert book.price(call("claude-opus-4-8", output_tokens=1000)) == pytest.approx(usd(30_000))
    assert book.price(call("claude-fable-5-2", input_tokens=1000)) == pytest.approx(usd(8000))


def test_cctop_prices_env_overrides_the_path(no_user_config: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "elsewhere.toml"
    custom.write_text("[claude-haiku-4-5]\ninput = 2\n")
    monkeypatch.setenv("CCTOP_PRICES", str(custom))
    book, warnings = load_pricebook()
    assert warnings == []
    assert book.price(call("claude-haiku-4-5", input_tokens=1000)) == pytest.approx(usd(2000))
    monkeypatch.setenv("CCTOP_PRICES", str(tmp_path / "missing.toml"))
    book, warnings = load_pricebook()
    assert len(warnings) == 1 and "not found" in warnings[0]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[claude-opus-4-8\ninput = 1\n", "not valid TOML"),
        ('[claude-opus-4-8]\ninput = "free"\n', "input must be a non-negative number"),
        ("[claude-opus-4-8]\ninptu = 1\n", "unknown key(s) inptu"),
        (b"\xff\xfe[bad]", "could not be read"),
    ],
)
def test_broken_user_file_warns_and_is_ignored(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    path = tmp_path / "prices.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    book, warnings = load_pricebook(path)
    assert len(warnings) == 1
    assert fragment in warnings[0] and str(path) in warnings[0]
    assert book.price(call("claude-opus-4-8", input_tokens=1000)) == pytest.approx(usd(5000))


# ---- ground truth: Claude Code's own costs ----------------------------------------------

def transcript_calls(path: Path) -> list[ApiCall]:
    """Deduplicated calls of one transcript (message.id + requestId, max output_tokens)."""
    calls: dict[tuple[str, str], ApiCall] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") != "assistant":
            continue
        message, usage = entry["message"], entry["message"]["usage"]
        split = usage.get("cache_creation") or {}
        found = call(
            message["model"],
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_read_tokens=usage["cache_read_input_tokens"],
            cache_creation_tokens=usage["cache_creation_input_tokens"],
            cache_creation_5m_tokens=split.get("ephemeral_5m_input_tokens", 0),
            cache_creation_1h_tokens=split.get("ephemeral_1h_input_tokens", 0),
            web_search_requests=(usage.get("server_tool_use") or {}).get("web_search_requests", 0),
            speed=usage.get("speed"),
            inference_geo=usage.get("inference_geo"),
        )
        key = (message["id"], entry["requestId"])
        if key not in calls or found.output_tokens > calls[key].output_tokens:
            calls[key] = found
    return list(calls.values())


@pytest.mark.parametrize(
    ("session", "total_cost_usd"),
    [
        ("2da9138a-9060-4234-9110-d4601e2b59d1", 0.209347),
        ("2ccb795b-01cb-489a-8d13-a582aba90816", 0.20960025),
        ("a4f1c02b-8334-4030-bda4-247b29589223", 0.20976525),
    ],
)
def test_session_cost_matches_claude_code(book: PriceBook, session: str, total_cost_usd: float) -> None:
    calls = transcript_calls(CC_SAMPLES / "projects" / "-home-dev-proj1" / f"{session}.jsonl")
    assert len(calls) == 3
    assert sum(book.price(c) for c in calls) == pytest.approx(total_cost_usd, abs=1e-6)


def test_every_otlp_api_request_cost_matches(book: PriceBook) -> None:
    checked = 0
    for line in (CC_SAMPLES / "otlp-http-json-capture.jsonl").read_text().splitlines():
        export = json.loads(line)
        if export["kind"] != "logs":
            continue
        for resource in export["body"]["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in record["attributes"]}
                    if attrs.get("event.name") != "api_request":
                        continue
                    c = call(
                        attrs["model"],
                        input_tokens=int(attrs["input_tokens"]),
                        output_tokens=int(attrs["output_tokens"]),
                        cache_read_tokens=int(attrs["cache_read_tokens"]),
                        cache_creation_tokens=int(attrs["cache_creation_tokens"]),
                    )
                    assert book.price(c) == pytest.approx(float(attrs["cost_usd"]), abs=1e-9)
                    checked += 1
    assert checked >= 3


def test_rates_for_reports_the_effective_per_token_rates(book: PriceBook) -> None:
    tier = book.rates_for(call("claude-sonnet-4", input_tokens=200_001, inference_geo="us"))
    assert isinstance(tier, Rates)  # Sonnet 4 has no US premium: plain tier rates
    assert astuple(tier) == pytest.approx((6e-6, 22.5e-6, 7.5e-6, 12e-6, 0.6e-6))
    fast_us = book.rates_for(call("claude-opus-4-8", speed="fast", inference_geo="us"))
    assert astuple(fast_us) == pytest.approx((11e-6, 55e-6, 13.75e-6, 22e-6, 1.1e-6))


def test_the_packaged_prices_are_read_without_importlib_resources_and_the_same() -> None:
    import subprocess
    import sys
    from importlib import resources

    from cctop.sources import prices

    packaged = resources.files("cctop").joinpath("data").joinpath("prices.toml").read_text(encoding="utf-8")
    assert prices._packaged_text() == packaged
    script = (
        "import sys; from cctop.sources.prices import packaged_pricebook; packaged_pricebook(); "
        "print('importlib.resources' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    "value",
    ["2026-03-13", "2026-3-13", "2026-03-1", "2026-02-30", "2026-13-01", "2024-02-29", "2026-03-13T10:00",
     "20260313", "soon", "", "０２６-03-13", 17],
)  # fmt: skip
def test_until_days_read_as_strptime_reads_them(value) -> None:
    from cctop.model.pricing import _date_to_posix

    try:
        day = datetime.strptime(str(value)[:10], "%Y-%m-%d")
    except ValueError:
        with pytest.raises(ValueError, match="until must be a date"):
            _date_to_posix(value, "m")
    else:
        assert _date_to_posix(value, "m") == day.replace(tzinfo=timezone.utc).timestamp()
