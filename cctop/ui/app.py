"""The cctop Textual app: the refresh loop, the screens, the command palette.

Data path: sources ingest into the Ledger from their own threads. A short timer notices
``ledger.version`` moving and an exclusive thread worker takes the snapshot off the UI
thread and posts it back as a message; the app then holds it as its ``frame``, which the
screens watch and diff into their widgets. When nothing changed, a tick only moves the
frame's clock: the clock-driven cells (relative times, cache countdown) are re-checked and
no widget is touched unless one of them moved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from cctop import format as fmt
from cctop.model.ledger import Ledger
from cctop.model.limit_sample import DEFAULT_THRESHOLDS
from cctop.model.limits import LimitsView, alerts, first_time, limits_view
from cctop.model.snapshot import SessionDetail, Snapshot
from cctop.model.usage import FactsCache
from cctop.ui import rows
from cctop.ui.commands import SessionCommands
from cctop.ui.follow import Follow, resolve_session  # noqa: F401 (resolve_session: re-exported for tests)
from cctop.ui.messages import Frame, LimitSamples, LiveProcesses, SnapshotFailed, SnapshotReady
from cctop.ui.screens.help import HelpScreen
from cctop.ui.screens.history import History, HistoryScreen, HistoryWarm
from cctop.ui.screens.history import compute as compute_history
from cctop.ui.screens.main import MainScreen
from cctop.ui.screens.session import SessionScreen
from cctop.ui.theme import role_styles

WAKE_INTERVAL_S = 0.15  # how often the (cheap) version check runs
MIN_FRAME_GAP_S = 0.25  # at most 4 data frames a second in a burst
# Until the first sessions are on screen (a start, the history still loading): the check runs
# this often and no gap holds their frame back, so a live session shows as soon as it is read.
FIRST_DATA_WAKE_S = 0.02
WINDOW_REFRESH_S = 30.0  # header windows (last hour, burn rate) move with the clock
LIMITS_REFRESH_S = 30.0  # session shares follow calls that reach the transcripts late
LIMITS_HISTORY_S = 8 * 86400.0
REFRESH_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0)
HISTORY_WARM_DELAY_S = 3.0  # after the history is read, before its facts are made

StatusPart = Callable[[], "str | tuple[str, str] | None"]  # text, or (text, abbreviation)


class CctopApp(App):
    CSS_PATH = Path(__file__).with_name("cctop.tcss")  # absolute: subclasses live elsewhere
    TITLE = "cctop"
    COMMANDS = App.COMMANDS | {SessionCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark,f1", "help", "Help", key_display="?", id="help"),
        Binding("space", "toggle_pause", "Pause", id="pause"),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+", show=False, id="faster"),
        Binding("minus", "slower", "Slower", key_display="-", show=False, id="slower"),
    ]

    # What the screens watch: the latest data with the clock to show it at, and the pause.
    frame: var[Frame | None] = var(None)
    paused: var[bool] = var(False)

    def __init__(
        self,
        ledger: Ledger,
        *,
        now: Callable[[], float] = time.time,
        sources: Sequence[StatusPart] = (),
        roots: Sequence[Path] = (),
        refresh: float = 1.0,
        open_session: str | None = None,
        cwd: str | None = None,
        otlp: bool = False,
        startup_warnings: Iterable[str] = (),
        backfilling: Callable[[], bool] = lambda: False,
        limit_thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        statusline_installed: bool = False,
    ) -> None:
        super().__init__()
        self.ledger = ledger
        self.clock = now
        self._sources = tuple(sources)
        self.roots = tuple(roots)
        self.refresh_interval = refresh
        self._cwd = cwd if cwd is not None else os.getcwd()
        # --session: what to open at start, and (latest / here) what to keep following.
        self.follow: Follow | None = Follow.from_spec(open_session, self._cwd) if open_session else None
        self._waiting_told = False
        self.otlp = otlp
        self._startup_warnings = tuple(startup_warnings)
        self.history_facts = FactsCache()  # per-session facts the history screen sums
        self.last_history: History | None = None  # the history screen's last sums, shown first
        self._history_warm = False
        self.backfilling = backfilling
        self._styles: dict[str, str] = {}
        self._snapshot_worker: Worker[None] | None = None
        self._seen_version = -1
        self._last_frame = 0.0
        self._last_window = 0.0
        self._tick_timer: Timer | None = None
        self._first_data: Timer | None = None  # the fast check of a start (FIRST_DATA_WAKE_S)
        self._snapshot_again = False  # a snapshot was asked for while one was being taken
        self.frames = 0  # snapshots applied (tests, benchmarks)
        # Subscription limits: samples from the statusline (posted by limits_poll), the view
        # computed from them with the snapshot, and the alerts already given.
        self.limit_samples: list = []
        self.limit_dropped = 0
        self.limits: LimitsView | None = None
        self.limit_thresholds = tuple(limit_thresholds)
        self.statusline_installed = statusline_installed  # only changes the no-data hint
        self._limits_version = 0
        self._seen_limits_version = 0
        self._limits_at = 0.0
        self._alerted: dict[tuple[str, str], float | None] = {}
        # Live Claude Code processes (sources/live_sessions): session id -> "busy" / "wait" / "run".
        self.processes: dict[str, str] = {}

    # -- lifecycle --------------------------------------------------------------

    def on_mount(self) -> None:
        self._styles = role_styles(self.get_css_variables())
        self.theme_changed_signal.subscribe(self, self._on_theme)
        self.push_screen(MainScreen())
        self._tick_timer = self.set_interval(self.refresh_interval, self._tick)
        self.set_interval(WAKE_INTERVAL_S, self._wake)
        self._first_data = self.set_interval(FIRST_DATA_WAKE_S, self._wake)
        for warning in self._startup_warnings:
            self.notify(fmt.safe_text(warning), severity="warning", markup=False, timeout=10)
        self.request_snapshot()

    def _on_theme(self, _theme) -> None:
        self._styles = role_styles(self.get_css_variables())
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                screen.table.restyle()
            elif isinstance(screen, SessionScreen):
                screen.restyle()
        self.redraw()

    def style_for(self, role: str) -> str:
        return self._styles.get(role, "")

    @property
    def snapshot(self) -> Snapshot | None:
        return self.frame.snapshot if self.frame is not None else None

    @property
    def detail(self) -> SessionDetail | None:
        return self.frame.detail if self.frame is not None else None

    @property
    def snapshot_running(self) -> bool:
        worker = self._snapshot_worker
        return worker is not None and worker.is_running

    # -- refresh loop -------------------------------------------------------------

    def _wake(self) -> None:
        """Cheap: an int comparison. Starts a snapshot when data moved (throttled)."""
        if self.snapshot_running:
            return
        if self.ledger.version == self._seen_version and self._limits_version == self._seen_limits_version:
            if self._first_data is not None and not self.backfilling():
                self._stop_first_data()  # the history is in and holds no session: nothing to come
            return
        if self._first_data is not None or time.monotonic() - self._last_frame >= MIN_FRAME_GAP_S:
            self.request_snapshot()

    def _stop_first_data(self) -> None:
        if self._first_data is not None:
            self._first_data.stop()
            self._first_data = None

    def _tick(self) -> None:
        """Clock-driven: relative times, cache countdowns, the header's time windows."""
        if self.snapshot_running:
            return
        now = self.clock()
        if self.ledger.version != self._seen_version or now - self._last_window >= WINDOW_REFRESH_S:
            self.request_snapshot()
        else:
            self.redraw()

    def request_snapshot(self) -> None:
        """Start a snapshot; while one is being taken, another follows it (a burst of changes
        waits for it, and a session screen opened meanwhile still gets its detail)."""
        if self.snapshot_running:
            self._snapshot_again = True
            return
        screen = self._visible_screen()
        detail_id = screen.session_id if isinstance(screen, SessionScreen) else None
        now = self.clock()
        limits_for = None
        if self._limits_version != self._seen_limits_version or now - self._limits_at >= LIMITS_REFRESH_S:
            limits_for = (tuple(self.limit_samples), self._limits_version)
        self._snapshot_worker = self._take_snapshot(now, detail_id, limits_for)

    @work(thread=True, exclusive=True, group="snapshot", exit_on_error=False, description="take a snapshot")
    def _take_snapshot(self, now: float, detail_id: str | None, limits_for: tuple | None = None) -> None:
        """Runs in a worker thread: reads the ledger, posts the result, touches no widget."""
        message = self._compute(now, detail_id, limits_for)
        if not get_current_worker().is_cancelled:
            self.post_message(message)

    def _compute(self, now: float, detail_id: str | None, limits_for: tuple | None = None) -> Message:
        try:
            snapshot = self.ledger.snapshot(now)
            detail = self.ledger.session_detail(detail_id, now) if detail_id else None
            limits = None
            if limits_for is not None:
                samples, version = limits_for
                calls = self.ledger.calls_since(samples[0].observed_at) if samples else []
                limits = (limits_view(samples, now, calls), version)
            return SnapshotReady(Frame(snapshot, detail, now), limits)
        except Exception as exc:  # keep the app alive, and say what broke
            return SnapshotFailed(f"{type(exc).__name__}: {exc}")

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        # Its worker is done but may not have said so yet: a snapshot asked for from here on
        # (a session screen this frame opens) must start, not wait for the next change.
        self._snapshot_worker = None
        frame = message.frame
        self._seen_version = frame.snapshot.version
        self._last_frame = time.monotonic()
        self._last_window = frame.now
        if message.limits is not None:
            view, self._seen_limits_version = message.limits
            self.limits = view
            self._limits_at = frame.now
            self._alert(view)
        self.frames += 1
        if self._first_data is not None and (frame.snapshot.sessions or not self.backfilling()):
            self._stop_first_data()  # the first sessions are up (or there are none to come)
        if self._visible_screen() is None:
            return  # shutting down: a snapshot taken meanwhile has no one to show it
        self.frame = frame  # the screens watching it diff it in
        self._maybe_open_requested()
        self._warm_history()
        self._asked_meanwhile()

    def _asked_meanwhile(self) -> None:
        if self._snapshot_again:
            self._snapshot_again = False
            self.request_snapshot()

    def _warm_history(self) -> None:
        """Once the history is read: turn it into the history screen's facts and sums in
        the background, a few seconds later, so ``g`` draws at once (and sums again: later
        opens and redraws only redo the sessions that changed)."""
        if self._history_warm or self.backfilling():
            return
        self._history_warm = True

        def warm() -> None:
            version, now, width = self.ledger.version, self.clock(), self.size.width
            usage, _, _ = self.history_facts.usage(self.ledger, self.ledger.rates_for)
            self.post_message(HistoryWarm(compute_history(usage, "daily", "model", now, width, version)))

        self.set_timer(
            HISTORY_WARM_DELAY_S,
            lambda: self.run_worker(warm, thread=True, group="history", exit_on_error=False),
        )

    def on_history_warm(self, message: HistoryWarm) -> None:
        if self.last_history is None:
            self.last_history = message.history

    def on_live_processes(self, message: LiveProcesses) -> None:
        self.processes = {sid: p.state for sid, p in message.processes.items()}
        self.redraw()

    def on_limit_samples(self, message: LimitSamples) -> None:
        kept = self.clock() - LIMITS_HISTORY_S  # a weekly window and a day: older ones are done
        if self.limit_samples and self.limit_samples[0].observed_at < kept:
            self.limit_samples = [s for s in self.limit_samples if s.observed_at >= kept]
        self.limit_samples.extend(message.samples)
        self.limit_dropped = message.dropped
        self._limits_version += 1
        self._wake()

    def _alert(self, view: LimitsView) -> None:
        """A notification and the terminal bell, once per threshold and window."""
        for alert in alerts(view, self.limit_thresholds):
            if not first_time(alert, self._alerted):
                continue
            self.notify(alert.text, title="limits", severity=alert.severity, markup=False, timeout=15)
            self.bell()

    def _visible_screen(self) -> Screen | None:
        return self.screen if self.screen_stack else None

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        self._snapshot_worker = None  # as in on_snapshot_ready
        self._last_frame = time.monotonic()
        self.notify(fmt.safe_text(message.error), title="snapshot failed", severity="error", markup=False)
        self._asked_meanwhile()

    def redraw(self) -> None:
        """The same data at the clock's time now: relative times and countdowns move."""
        frame = self.frame
        if frame is not None and self._visible_screen() is not None:
            self.frame = Frame(frame.snapshot, frame.detail, self.clock())

    # -- header parts ---------------------------------------------------------------

    def source_parts(self) -> list[str | tuple[str, str]]:
        parts: list[str | tuple[str, str]] = []
        for source in self._sources:
            try:
                part = source()
            except Exception as exc:  # a status provider must never take the header down
                part = f"status error: {exc}"
            if part:
                parts.append(part)
        parts.append((f"refresh {self.refresh_interval:g}s", f"every {self.refresh_interval:g}s"))
        return parts

    def notes(self, snapshot: Snapshot | None) -> Iterable[str | tuple[str, str]]:
        if self.paused:
            yield ("PAUSED (space resumes)", "PAUSED")
        if snapshot is not None and snapshot.warnings:
            count = len(snapshot.warnings)
            yield (f"{count} warning(s): ? shows them", f"{count} warn")

    def empty_message(self) -> Text:
        if self.backfilling():
            return Text("Reading transcripts…", style="bold")
        text = Text("No Claude Code sessions found yet.\n\n", style="bold")
        text.append("Looked for transcripts in:\n", style="")
        for root in self.roots or (Path("~/.claude/projects"),):
            text.append(f"  {fmt.safe_text(root)}\n", style="")  # a path may hold anything
        text.append(
            "\nPoint cctop elsewhere with --claude-dir PATH (repeatable) or CLAUDE_CONFIG_DIR.\n", style=""
        )
        if self.otlp:
            text.append("Listening for OpenTelemetry: start claude with the environment from ", style="")
        else:
            text.append("For live telemetry too, run cctop --otlp and start claude with ", style="")
        text.append('eval "$(cctop otlp-env)"', style="bold")
        text.append(".\n", style="")
        return text

    # -- sessions ---------------------------------------------------------------------

    def open_session(self, session_id: str, *, follow: bool = False) -> None:
        """Show one session; unless ``follow``, it stays pinned (the user chose it)."""
        if not follow and self.follow is not None:
            self.follow.following = False
        if isinstance(self.screen, SessionScreen):
            self.pop_screen()
        self.push_screen(SessionScreen(session_id))

    def _maybe_open_requested(self) -> None:
        """Open what ``--session`` asked for at start, then, while following, switch to the
        session it now points at (a new ``claude``, or activity in another one)."""
        follow, snapshot = self.follow, self.snapshot
        if follow is None or snapshot is None:
            return
        screen = self._visible_screen()
        if isinstance(screen, SessionScreen):
            showing: str | None = screen.session_id
            if not follow.following:
                return  # pinned
        elif isinstance(screen, MainScreen) and not self._opened_once:
            showing = None  # at start
        else:
            return  # back on the list (Esc), or help / the palette on top
        found = follow.target(snapshot)
        if found is None:
            self._say_not_found(follow)
            return
        if found == showing:
            return
        self._opened_once = True
        self.open_session(found, follow=True)
        if showing is not None or self._waiting_told:  # a switch, or the wait is over: say so
            project = fmt.safe_text(snapshot.sessions[found].project)
            why = "the most recently active" if follow.spec == "latest" else "the newest here"
            self.notify(f"following {found[:8]} ({project}): {why}", timeout=4, markup=False)

    _opened_once = False

    def _say_not_found(self, follow: Follow) -> None:
        if self._waiting_told or self.backfilling():
            return
        self._waiting_told = True
        if follow.spec == "here":
            self.notify(f"waiting for a session in {self._cwd}", markup=False, timeout=6)
        elif follow.spec != "latest":  # everything is read: it is not coming
            self.notify(f"no session matches {follow.spec!r}", severity="warning", markup=False)
            self.follow = None

    def action_toggle_follow(self) -> None:
        """On the session screen: follow the most recent session again, or pin this one."""
        if self.follow is None:
            self.follow = Follow("latest", self._cwd, following=False)
        following = self.follow.toggle()
        self.notify(self.follow.describe() + (" (f pins)" if following else " (f follows)"), timeout=2)
        if following:
            self._maybe_open_requested()
        self.redraw()

    # -- actions ------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        warnings = list(self._startup_warnings)
        if self.snapshot is not None:
            warnings.extend(self.snapshot.warnings)
        self.push_screen(HelpScreen(warnings, self.style_for))

    def action_history(self) -> None:
        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def action_faster(self) -> None:
        self._set_refresh(-1)

    def action_slower(self) -> None:
        self._set_refresh(1)

    def _set_refresh(self, step: int) -> None:
        steps = REFRESH_STEPS
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - self.refresh_interval))
        self.refresh_interval = steps[max(0, min(len(steps) - 1, index + step))]
        if self._tick_timer is not None:
            self._tick_timer.stop()
        self._tick_timer = self.set_interval(self.refresh_interval, self._tick)
        self.redraw()

    def notify_sort(self, key: str) -> None:
        label = next(c.label for c in rows.COLUMNS if c.key == key)
        self.notify(f"sorted by {label}", timeout=1.5)

    def _main(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume", "Freeze the tables (space)", self.action_toggle_pause)
        yield SystemCommand("Refresh faster", "Shorter refresh interval (+)", self.action_faster)
        yield SystemCommand("Refresh slower", "Longer refresh interval (-)", self.action_slower)
        yield SystemCommand("Help", "Keys and what the columns mean (?)", self.action_help)
        yield SystemCommand(
            "History charts",
            "Cost per day, week or month, hit rate, tokens, 5-hour blocks (g)",
            self.action_history,
        )
        main = self._main()
        if main is None or screen is not main:
            return
        yield SystemCommand("Filter sessions", "By project, title, model or id (/)", main.action_filter)
        yield SystemCommand("Reverse sort", "Flip the order (r)", main.action_reverse)
        yield SystemCommand("Toggle subagent tree", "Subagents under their session (t)", main.action_tree)
        yield SystemCommand("Toggle history", "Older sessions too, or only today's (h)", main.action_history)
        for column in rows.COLUMNS:
            if column.key in rows.SORTABLE:
                yield SystemCommand(
                    f"Sort by {column.label}", f"Order sessions by the {column.label} column",
                    lambda key=column.key: main.sort_by(key),
                )  # fmt: skip
