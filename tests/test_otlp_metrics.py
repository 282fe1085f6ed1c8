"""MetricDeltas: the temporality state behind OTLP metric increments."""

from __future__ import annotations

from cctop.sources.otlp.metrics import MetricDeltas

S = ("session-1", "claude_code.token.usage", (("type", "input"),))
OTHER = ("session-1", "claude_code.token.usage", (("type", "output"),))


def test_delta_points_add_up_and_resends_are_ignored() -> None:
    deltas = MetricDeltas()
    assert deltas.delta(S, 100, 200, 5.0, cumulative=False) == 5.0
    assert deltas.delta(S, 200, 300, 7.0, cumulative=False) == 7.0
    # The client timed out and re-sent the first batch: same series, same window.
    assert deltas.delta(S, 100, 200, 5.0, cumulative=False) is None
    # The same window in another series is its own point.
    assert deltas.delta(OTHER, 100, 200, 5.0, cumulative=False) == 5.0


def test_delta_without_timestamps_cannot_be_deduped_so_it_counts() -> None:
    deltas = MetricDeltas()
    assert deltas.delta(S, 0, 0, 2.0, cumulative=False) == 2.0
    assert deltas.delta(S, 0, 0, 2.0, cumulative=False) == 2.0


def test_cumulative_adds_the_difference_to_the_last_value() -> None:
    deltas = MetricDeltas()
    assert deltas.delta(S, 100, 200, 10.0, cumulative=True) == 10.0
    assert deltas.delta(S, 100, 300, 25.0, cumulative=True) == 15.0
    assert deltas.delta(S, 100, 400, 25.0, cumulative=True) == 0.0


def test_cumulative_resend_and_out_of_order_points_add_nothing() -> None:
    deltas = MetricDeltas()
    deltas.delta(S, 100, 200, 10.0, cumulative=True)
    deltas.delta(S, 100, 300, 25.0, cumulative=True)
    assert deltas.delta(S, 100, 300, 25.0, cumulative=True) is None  # identical re-send
    assert deltas.delta(S, 100, 200, 10.0, cumulative=True) is None  # late older point
    assert deltas.delta(S, 100, 500, 30.0, cumulative=True) == 5.0  # state not disturbed


def test_cumulative_changed_start_is_a_new_process_counted_whole() -> None:
    # `claude --resume`: a new process, same session id, counters from zero again.
    deltas = MetricDeltas()
    total = 0.0
    for start, time, value in [(100, 200, 10.0), (100, 300, 40.0), (1000, 1100, 3.0), (1000, 1200, 9.0)]:
        total += deltas.delta(S, start, time, value, cumulative=True) or 0.0
    assert total == 40.0 + 9.0
    # A straggler from the first process after the restart adds nothing.
    assert deltas.delta(S, 100, 300, 40.0, cumulative=True) is None


def test_cumulative_drop_in_monotonic_sum_is_a_reset() -> None:
    deltas = MetricDeltas()
    deltas.delta(S, 100, 200, 50.0, cumulative=True)
    assert deltas.delta(S, 100, 300, 4.0, cumulative=True) == 4.0
    assert deltas.delta(S, 100, 400, 6.0, cumulative=True) == 2.0


def test_non_monotonic_cumulative_sum_can_go_down() -> None:
    deltas = MetricDeltas()
    deltas.delta(S, 100, 200, 50.0, cumulative=True, monotonic=False)
    assert deltas.delta(S, 100, 300, 45.0, cumulative=True, monotonic=False) == -5.0


def test_unknown_start_reset_only_sets_the_baseline() -> None:
    deltas = MetricDeltas()
    assert deltas.delta(S, 500, 500, 7.0, cumulative=True) == 0.0
    assert deltas.delta(S, 500, 600, 9.0, cumulative=True) == 2.0


def test_memory_is_bounded() -> None:
    deltas = MetricDeltas(max_series=10, max_windows=10)
    for i in range(100):
        deltas.delta(("s", i), 1, 2, 1.0, cumulative=True)
        deltas.delta(("s", i), i, i + 1, 1.0, cumulative=False)
    assert len(deltas._cumulative) == 10
    assert len(deltas._delta_windows) == 10
    # The most recent series are the ones remembered.
    assert deltas.delta(("s", 99), 1, 2, 1.0, cumulative=True) is None
