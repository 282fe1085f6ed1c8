"""OTLP export requests -> cctop records (all with ``source=Source.OTLP``).

Log events are Claude Code's per-call truth (``api_request`` carries tokens, cost and
the request id that joins the transcript); metrics become ``Activity`` increments;
spans become ``Activity("span:<name>")`` with their duration, and an ``llm_request`` span
also a ``CallTiming`` (time to first token) for the call with its request id. Names of the emitted
activities: the bare event name for events (``tool_decision``), the metric name plus
its ``type`` attribute for metrics (``claude_code.token.usage:input``), ``span:``
plus the span name for spans.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cctop.format import shorten
from cctop.model.records import (
    Activity,
    ApiCall,
    ApiError,
    CallTiming,
    Prompt,
    Record,
    SessionMeta,
    Source,
    TitleKind,
    ToolResult,
    ToolUse,
)
from cctop.sources import limits
from cctop.sources.limits import MAX_COUNT, OutOfRange, checked_seconds, time_in_range
from cctop.sources.otlp.metrics import MetricDeltas
from cctop.sources.otlp.values import (
    any_value,
    attributes,
    checked_cost,
    checked_count,
    clean,
    to_bool,
    to_float,
    to_opt_int,
    to_text,
)

OTLP = Source.OTLP
_EVENT_PREFIX = "claude_code."

# Identity and bulky attributes that say nothing about the activity itself; kept out
# of Activity.attributes (user.email and prompt text stay out of cctop entirely).
_NOT_ACTIVITY_ATTRS = frozenset(
    {
        "session.id",
        "user.id",
        "user.email",
        "user.account_uuid",
        "user.account_id",
        "organization.id",
        "terminal.type",
        "event.name",
        "event.timestamp",
        "event.sequence",
        "prompt",
        "user_prompt",
        "response",
        "tool_input",
        "tool_parameters",
        "error",
        "workspace.host_paths",
        "app.version",
    }
)
_MAX_ACTIVITY_ATTRS = 16


@dataclass
class Decoded:
    records: list[Record] = field(default_factory=list)
    items: int = 0  # log records + data points + spans in the request
    rejected: int = 0
    note: str = ""


class OtlpDecoder:
    """Stateless for logs and traces; metrics keep per-series state behind a lock, so
    one decoder can serve every listener thread."""

    def __init__(self) -> None:
        self._deltas = MetricDeltas()
        self._deltas_lock = threading.Lock()

    def decode(self, signal: str, request: Any) -> Decoded:
        if signal == "logs":
            return decode_logs(request)
        if signal == "metrics":
            return self.decode_metrics(request)
        return decode_traces(request)

    # -- metrics -------------------------------------------------------------------

    def decode_metrics(self, request: Any) -> Decoded:
        out = Decoded()
        sessions = _SessionMetas(out.records)
        rejected: list[float] = []
        for resource_metrics in request.resource_metrics:
            resource = attributes(resource_metrics.resource.attributes)
            version = _version(resource)
            resource_key = tuple(sorted((k, repr(v)) for k, v in resource.items()))
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    out.items += self._metric(metric, resource_key, version, sessions, out.records, rejected)
        if rejected:
            out.rejected = len(rejected)
            out.note = limits.out_of_range(len(rejected), "data point(s)").replace(
                "token count, cost", "value"
            ) + "; a counter never goes down"
        return out

    def _metric(
        self,
        metric: Any,
        resource_key: Hashable,
        version: str | None,
        sessions: _SessionMetas,
        records: list[Record],
        rejected: list[float],
    ) -> int:
        kind = metric.WhichOneof("data")
        if kind != "sum":
            # Claude Code only sends counters; gauges and histograms have no increment to add.
            return len(getattr(metric, kind).data_points) if kind else 0
        data = metric.sum
        cumulative = data.aggregation_temporality == 2  # AGGREGATION_TEMPORALITY_CUMULATIVE
        name = clean(metric.name)
        for point in data.data_points:
            kind_of_value = point.WhichOneof("value")
            value = float(point.as_int) if kind_of_value == "as_int" else point.as_double
            timestamp = point.time_unix_nano / 1e9 if point.time_unix_nano else None
            # A NaN or 1e300 would poison every total it is added to; a counter (monotonic
            # sum) never goes down, so a negative value on one is no increment either.
            if (
                not (abs(value) < MAX_COUNT)
                or (data.is_monotonic and value < 0)
                or (timestamp is not None and not time_in_range(timestamp))
            ):
                rejected.append(value)
                continue
            attrs = attributes(point.attributes)
            series = (resource_key, metric.name, tuple(sorted((k, repr(v)) for k, v in attrs.items())))
            with self._deltas_lock:
                added = self._deltas.delta(
                    series,
                    point.start_time_unix_nano,
                    point.time_unix_nano,
                    value,
                    cumulative=cumulative,
                    monotonic=data.is_monotonic,
                )
            if not added or (data.is_monotonic and added < 0):
                continue
            session_id = _session(attrs)
            if session_id is not None:
                sessions.seen(session_id, version, timestamp)
            kind_attr = attrs.pop("type", None)
            records.append(
                Activity(
                    session_id=session_id,
                    name=name if kind_attr is None else f"{name}:{to_text(kind_attr)}",
                    value=added,
                    timestamp=timestamp,
                    attributes=_activity_attributes(attrs),
                    source=OTLP,
                )
            )
        return len(data.data_points)


# -- logs ----------------------------------------------------------------------------


def decode_logs(request: Any) -> Decoded:
    out = Decoded()
    sessions = _SessionMetas(out.records)
    missing_session = out_of_range = 0
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        version = _version(resource)
        for scope_logs in resource_logs.scope_logs:
            for log_record in scope_logs.log_records:
                out.items += 1
                attrs = attributes(log_record.attributes)
                name = _event_name(log_record, attrs)
                if name is None:
                    continue  # not a Claude Code event: nothing to say about it
                session_id = _session(attrs)
                if session_id is None:
                    missing_session += 1
                    continue
                event: list[Record] = []
                try:
                    timestamp = checked_seconds(_log_timestamp(log_record, attrs))
                    _event_records(name, session_id, timestamp, attrs, event)
                except OutOfRange:
                    out_of_range += 1  # the rest of the request is kept
                    continue
                sessions.seen(session_id, version, timestamp, _cwd(attrs), _origin(resource, attrs))
                out.records.extend(event)
    notes = []
    if missing_session:
        notes.append(f"{missing_session} Claude Code event(s) without session.id")
    if out_of_range:
        notes.append(limits.out_of_range(out_of_range, "log record(s)"))
    out.rejected = missing_session + out_of_range
    out.note = "; ".join(notes)
    return out


def _event_records(
    name: str, session_id: str, timestamp: float | None, attrs: dict[str, Any], records: list[Record]
) -> None:
    if name == "api_request":
        records.append(_api_call(session_id, timestamp, attrs))
    elif name == "api_error":
        records.append(
            ApiError(
                session_id=session_id,
                timestamp=timestamp,
                status=to_text(attrs.get("status_code")),
                error=to_text(attrs.get("error"), 500),
                model=to_text(attrs.get("model")),
                attempt=to_opt_int(attrs.get("attempt")),
                source=OTLP,
                request_id=to_text(attrs.get("request_id"), 100),
            )
        )
    elif name == "tool_result":
        records.extend(_tool_records(session_id, timestamp, attrs))
    elif name == "user_prompt":
        records.append(
            Prompt(
                session_id=session_id,
                prompt_id=to_text(attrs.get("prompt.id"), 100) or _derived_id("prompt", session_id, attrs),
                timestamp=timestamp,
                length=checked_count(attrs.get("prompt_length"), "prompt_length"),
                source=OTLP,
            )
        )
        # The text itself only comes with OTEL_LOG_USER_PROMPTS=1; it titles an OTLP-only session.
        text = attrs.get("prompt")
        if isinstance(text, str) and text.strip() and text != "<REDACTED>":
            records.append(
                SessionMeta(
                    session_id=session_id,
                    timestamp=timestamp,
                    title=clean(shorten(text)),  # whitespace folded first, then controls
                    title_kind=TitleKind.FIRST_PROMPT,
                    source=OTLP,
                )
            )
    else:
        records.append(
            Activity(
                session_id=session_id,
                name=clean(name, 80),
                value=1.0,
                timestamp=timestamp,
                attributes=_activity_attributes(attrs),
                source=OTLP,
            )
        )


def _api_call(session_id: str, timestamp: float | None, attrs: dict[str, Any]) -> ApiCall:
    cost = checked_cost(attrs.get("cost_usd"))
    if cost is None and "cost_usd_micros" in attrs:
        micros = checked_cost(attrs["cost_usd_micros"])
        cost = None if micros is None else micros / 1e6
    request_id = (
        to_text(attrs.get("request_id"), 100)
        or to_text(attrs.get("client_request_id"), 100)
        or _derived_id("request", session_id, attrs)
    )
    return ApiCall(
        session_id=session_id,
        agent_id=_agent(attrs),
        model=to_text(attrs.get("model"), 100) or "unknown",
        message_id=None,
        request_id=request_id,
        timestamp=timestamp,
        input_tokens=_count(attrs, "input_tokens"),
        output_tokens=_count(attrs, "output_tokens"),
        cache_read_tokens=_count(attrs, "cache_read_tokens"),
        cache_creation_tokens=_count(attrs, "cache_creation_tokens"),
        # 2.1.332+ says how the writes split between the 5-minute and 1-hour cache.
        cache_creation_5m_tokens=_count(attrs, "cache_creation_5m_tokens"),
        cache_creation_1h_tokens=_count(attrs, "cache_creation_1h_tokens"),
        speed=to_text(attrs.get("speed"), 40),
        final=True,
        source=OTLP,
        reported_cost_usd=cost,
        duration_ms=to_float(attrs.get("duration_ms")),
        ttft_ms=to_float(attrs.get("ttft_ms")),
    )


def _count(attrs: dict[str, Any], name: str) -> int:
    """A token count, or OutOfRange (the event is rejected)."""
    return checked_count(attrs.get(name), name)


def _tool_records(session_id: str, timestamp: float | None, attrs: dict[str, Any]) -> list[Record]:
    tool_use_id = to_text(attrs.get("tool_use_id"), 100) or _derived_id("tool", session_id, attrs)
    tool_name = to_text(attrs.get("tool_name"), 100) or "unknown"
    duration_ms = to_float(attrs.get("duration_ms"))
    started = (
        timestamp - duration_ms / 1000 if timestamp is not None and duration_ms is not None else timestamp
    )
    return [
        ToolUse(session_id, _agent(attrs), tool_use_id, tool_name, started, source=OTLP),
        ToolResult(
            session_id=session_id,
            tool_use_id=tool_use_id,
            is_error=to_bool(attrs.get("success")) is False,
            timestamp=timestamp,
            duration_ms=duration_ms,
            tool_name=tool_name,
            source=OTLP,
        ),
    ]


# -- traces --------------------------------------------------------------------------


def decode_traces(request: Any) -> Decoded:
    out = Decoded()
    sessions = _SessionMetas(out.records)
    out_of_range = 0
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        version = _version(resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.items += 1
                attrs = attributes(span.attributes)
                session_id = _session(attrs)
                if session_id is None:
                    continue  # cctop can only show spans it can put in a session
                end = span.end_time_unix_nano / 1e9 if span.end_time_unix_nano else None
                if end is not None and not time_in_range(end):
                    out_of_range += 1
                    continue
                sessions.seen(session_id, version, end, origin=_origin(resource, attrs))
                duration_ms = to_float(attrs.get("duration_ms"))
                if duration_ms is None and span.end_time_unix_nano >= span.start_time_unix_nano:
                    duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                out.records.append(
                    Activity(
                        session_id=session_id,
                        name="span:" + clean(span.name, 80),
                        value=duration_ms or 0.0,
                        timestamp=end,
                        attributes=_activity_attributes(attrs),
                        source=OTLP,
                    )
                )
                if span.name == _LLM_REQUEST_SPAN or attrs.get("span.type") == "llm_request":
                    timing = _call_timing(session_id, end, duration_ms, attrs)
                    if timing is not None:
                        out.records.append(timing)
    if out_of_range:
        out.rejected = out_of_range
        out.note = limits.out_of_range(out_of_range, "span(s)")
    return out


_LLM_REQUEST_SPAN = _EVENT_PREFIX + "llm_request"


def _call_timing(
    session_id: str, end: float | None, duration_ms: float | None, attrs: dict[str, Any]
) -> CallTiming | None:
    """The span's timings for its call; only the timings: its token counts repeat
    api_request's and must not be counted again."""
    request_id = to_text(attrs.get("request_id"), 100) or to_text(attrs.get("gen_ai.response.id"), 100)
    ttft_ms = to_float(attrs.get("ttft_ms"))
    if ttft_ms is not None and ttft_ms < 0:
        ttft_ms = None
    if duration_ms is not None and duration_ms < 0:
        duration_ms = None
    if not request_id or (ttft_ms is None and duration_ms is None):
        return None  # nothing to join it on, or nothing to add
    return CallTiming(session_id, request_id, ttft_ms, duration_ms, end, source=OTLP)


# -- shared helpers ------------------------------------------------------------------


class _SessionMetas:
    """One SessionMeta per session per request: tells the model the session exists
    (even when only OTLP sees it) and which Claude Code version runs it."""

    def __init__(self, records: list[Record]) -> None:
        self._records = records
        self._seen: set[tuple[str, str | None]] = set()

    def seen(
        self,
        session_id: str,
        version: str | None,
        timestamp: float | None,
        cwd: str | None = None,
        origin: str | None = None,
    ) -> None:
        if (session_id, None) in self._seen and (session_id, cwd) in self._seen:
            return
        self._seen.add((session_id, None))
        self._seen.add((session_id, cwd))
        self._records.append(
            SessionMeta(session_id, timestamp=timestamp, cwd=cwd, version=version, source=OTLP, origin=origin)
        )


def _event_name(log_record: Any, attrs: dict[str, Any]) -> str | None:
    body = log_record.body
    if body.WhichOneof("value") == "string_value" and body.string_value.startswith(_EVENT_PREFIX):
        return body.string_value[len(_EVENT_PREFIX) :]
    name = attrs.get("event.name")
    if isinstance(name, str) and name:
        return name[len(_EVENT_PREFIX) :] if name.startswith(_EVENT_PREFIX) else name
    return None


def _session(attrs: dict[str, Any]) -> str | None:
    session_id = attrs.get("session.id")
    if session_id is None or session_id == "":
        return None
    return clean(str(session_id), 100)


def _agent(attrs: dict[str, Any]) -> str | None:
    """The subagent that made a call, when the event says so; None = main chain."""
    for key in ("agent_id", "agent.id", "agent.name"):
        value = attrs.get(key)
        if value:
            return to_text(value, 100)
    return None


def _version(resource: dict[str, Any]) -> str | None:
    return to_text(resource.get("service.version"), 40)


def _origin(resource: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    """``xterm, linux/amd64``: what the telemetry says about where the session runs."""
    terminal = to_text(attrs.get("terminal.type"), 40)
    system = "/".join(t for t in (to_text(resource.get(k), 20) for k in ("os.type", "host.arch")) if t)
    return ", ".join(part for part in (terminal, system) if part) or None


def _cwd(attrs: dict[str, Any]) -> str | None:
    paths = attrs.get("workspace.host_paths")
    if isinstance(paths, list) and paths and isinstance(paths[0], str):
        return clean(paths[0], 500)
    if isinstance(paths, str) and paths:
        return clean(paths, 500)
    return None


def _log_timestamp(log_record: Any, attrs: dict[str, Any]) -> float | None:
    nanos = log_record.time_unix_nano or log_record.observed_time_unix_nano
    if nanos:
        return nanos / 1e9
    text = attrs.get("event.timestamp")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return None


def _derived_id(kind: str, session_id: str, attrs: dict[str, Any]) -> str:
    """A stable id for an event that lacks one, so a re-sent batch dedupes."""
    sequence = attrs.get("event.sequence")
    if sequence is not None:
        return f"otlp-{kind}:{session_id}:{to_text(sequence, 40)}"
    prompt_id = to_text(attrs.get("prompt.id"), 100)
    return f"otlp-{kind}:{session_id}:{prompt_id}:{to_text(attrs.get('event.timestamp'), 40)}"


def _activity_attributes(attrs: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    kept = []
    for key, value in attrs.items():
        if key in _NOT_ACTIVITY_ATTRS or value is None or isinstance(value, (list, dict)):
            continue
        kept.append((clean(key, 60), to_text(value, 120) or ""))
        if len(kept) >= _MAX_ACTIVITY_ATTRS:
            break
    kept.sort()
    return tuple(kept)


__all__ = ["Decoded", "OtlpDecoder", "any_value", "decode_logs", "decode_traces"]
