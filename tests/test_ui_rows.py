"""Cell formatting of the sessions table: countdowns, model names, states, the filter."""

from __future__ import annotations

from cctop import format as fmt
from cctop.model.snapshot import SessionStats, TokenTotals
from cctop.ui import rows


def stats(**changes) -> SessionStats:
    base = dict(
        id="abc", cwd="/home/dev/proj", project="proj", git_branch=None, title="Fix the parser",
        version=None, models=("claude-sonnet-4-5-20250929",), first_ts=0.0, last_ts=1000.0,
        tokens=TokenTotals(3, 10, 20, 30, 40, 0.5, 0), cache_creation_5m_tokens=40,
        cache_creation_1h_tokens=0, web_search_requests=0, output_is_lower_bound=False,
        reported_cost_usd=None, tool_calls=4, tool_errors=1, tools=(), subagents=(), prompts=1,
        api_errors=0, compactions=0, context_tokens=80, context_window=100, sources=frozenset(),
    )  # fmt: skip
    base.update(changes)
    return SessionStats(**base)


def test_ttl_countdown_text():
    assert rows.ttl_text(None) == ("-", "muted")
    assert rows.ttl_text(0) == ("expired", "muted")
    assert rows.ttl_text(-5) == ("expired", "muted")
    assert rows.ttl_text(252.0) == ("4:12", "")
    assert rows.ttl_text(251.3) == ("4:12", "")
    assert rows.ttl_text(0.2) == ("0:01", "warn")
    assert rows.ttl_text(59) == ("0:59", "warn")
    assert rows.ttl_text(3599) == ("59:59", "")
    assert rows.ttl_text(3600) == ("1h00", "")


def test_short_model_drops_prefix_and_date_and_counts_others():
    assert fmt.short_model(()) == "-"
    assert fmt.short_model(("claude-sonnet-4-5-20250929",)) == "sonnet-4-5"
    assert fmt.short_model(("claude-opus-4-8", "claude-haiku-4-5")) == "opus-4-8+1"
    assert fmt.short_model(("gpt-x-12345678",)) == "gpt-x"


def test_state_live_idle_history():
    day_start = 500.0
    assert rows.state_of(stats(last_ts=1000.0), 1100.0, day_start) == "live"
    assert rows.state_of(stats(last_ts=1000.0), 1000.0 + 121, day_start) == "idle"
    assert rows.state_of(stats(last_ts=100.0), 100.0 + 7 * 3600, 90_000.0) == "hist"
    assert rows.state_of(stats(last_ts=1000.0, files_deleted=True), 1001.0, day_start) == "hist"
    assert rows.state_of(stats(last_ts=None), 1001.0, day_start) == "hist"


def cells_of(s: SessionStats) -> dict[str, rows.Cell]:
    return dict(zip(rows.COLUMN_KEYS, rows.session_cells(s, 1010.0, 0.0), strict=True))


def test_cells_line_up_with_columns_and_mark_partial_figures():
    cells = cells_of(stats(output_is_lower_bound=True))
    assert len(cells) == len(rows.COLUMNS)
    assert cells["output"] == ("20+", "")
    assert cells["tools"] == ("4 1!", "error")
    assert cells["context"] == ("80%", "warn")
    assert cells["model"][0] == "sonnet-4-5"  # whole: the table fits it to its column
    unpriced = stats(tokens=TokenTotals(3, 10, 20, 30, 40, 0.25, 1))
    assert cells_of(unpriced)["cost"] == ("≥$0.25", "warn")


def test_filter_matches_project_title_model_id_and_cwd():
    s = stats()
    for needle in ("PROJ", "parser", "sonnet", "ab", "/home/dev", ""):
        assert rows.matches(s, needle)
    assert not rows.matches(s, "opus")


class FakeCache:
    def __init__(self, expires_at: float) -> None:
        self.expires_at = expires_at

    def seconds_left(self, now: float) -> float:
        return self.expires_at - now


def test_no_clock_driven_cell_changes_before_next_change():
    """The table skips rows until next_change: prove nothing visible moves before it."""
    day_start = 0.0
    cases = [
        stats(last_ts=1000.0),
        stats(last_ts=1000.0, cache=FakeCache(1000.0 + 300)),
        stats(last_ts=1000.0, cache=FakeCache(1000.0 + 3600)),
        stats(last_ts=None),
    ]
    for s in cases:
        for start in (1000.2, 1003.7, 1059.5, 1119.9, 1290.3, 4000.0, 1000.0 + 3500.5, 1000.0 + 86_000):
            now = start
            for _ in range(25):
                until = rows.next_change(s, now, day_start)
                before = rows.session_cells(s, now, day_start)
                if until == float("inf"):
                    assert rows.session_cells(s, now + 1e6, day_start) == before
                    break
                assert until > now
                for fraction in (0.01, 0.5, 0.99):
                    probe = now + (until - now) * fraction
                    assert rows.session_cells(s, probe, day_start) == before, (s.last_ts, now, probe)
                now = until + 1e-3
    # While a countdown runs, the row is looked at every second, not less often.
    ticking = stats(last_ts=1000.0, cache=FakeCache(1300.0))
    assert rows.next_change(ticking, 1100.25, day_start) - 1100.25 <= 1.0


def test_cache_bar_shares_always_fill_the_width():
    from cctop.ui.cache_bar import shares

    assert shares((20_000, 500, 5), 8) == (8, 0, 0)
    assert shares((17_900, 10_200, 2), 8) == (5, 3, 0)  # 5.10 / 2.90: the larger remainder wins
    assert shares((1, 1, 1), 8) == (3, 3, 2)  # equal remainders: the earlier part first
    assert shares((0, 0, 0), 8) == (0, 0, 0)
    for parts in ((3, 7, 11), (1, 0, 999_999), (50, 50, 0), (12_345, 678, 9)):
        for width in (1, 4, 8, 10):
            cells = shares(parts, width)
            assert sum(cells) == width and all(c >= 0 for c in cells)


def test_cache_bar_cell_shows_read_write_uncached_and_the_break_cause():
    from cctop.model.records import ApiCall
    from cctop.ui.cache_bar import BAR_ROLE, bar_cell, bar_text

    call = ApiCall("s", None, "claude-opus-4-8", "m", "r", 0.0, 2_000, 10, 4_000, 2_000)
    # 2:1:1 of 6 cells is 3 : 1.5 : 1.5; the tie goes to the earlier part (write).
    assert bar_cell(call, "", 6, short=False) == ("███▓▓░", BAR_ROLE)
    assert bar_cell(call, "model_changed", 6, short=False)[0] == "███▓▓░ model"
    assert bar_cell(call, "compacted", 4, short=True)[0] == "██▓░ C"
    assert bar_cell(call, "compact", 4, short=True)[0] == "██▓░"  # a compaction alone is no break
    empty = ApiCall("s", None, "<synthetic>", "m", "r", 0.0)
    assert bar_cell(empty, "", 4, short=True)[0] == "····"
    # A 5m/1h split larger than the total (a log quirk) counts, as in the cache analysis.
    split = ApiCall("s", None, "claude-opus-4-8", "m", "r", 0.0, 0, 0, 1_000, 0, 3_000, 0)
    assert bar_cell(split, "", 4, short=True)[0] == "█▓▓▓"
    roles = {"live": "green", "primary": "blue", "warn": "yellow", "error": "red", "muted": "dim"}
    text = bar_text("███▓▓░ model", roles.__getitem__)
    assert text.plain == " ███▓▓░ model"
    styled = [(text.plain[s.start : s.end], str(s.style)) for s in text.spans]
    assert styled[:3] == [("█", "green")] * 3 and ("▓", "blue") in styled and ("░", "yellow") in styled
    assert ("model", "bold red") in styled
