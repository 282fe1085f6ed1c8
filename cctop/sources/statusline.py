"""The JSON Claude Code gives a ``statusLine`` command on stdin -> a LimitSample.

Claude Code (2.1.x) runs the command after each message of an interactive session with one
JSON object: ``session_id``, ``model``, ``cost.total_cost_usd``, ``context_window``
(``used_percentage``, ``context_window_size``), ``prompt_cache`` (2.1.251+) and, for
subscribers and gateway users once a response carried the ``anthropic-ratelimit-unified-*``
headers, ``rate_limits.{five_hour,seven_day}.{used_percentage,resets_at}`` (epoch seconds);
``spend_limit`` for gateways. Anything missing or of the wrong type is left out, never
guessed: a sample with no ``rate_limits`` says nothing about the limits.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cctop.model.limit_sample import LimitSample, PromptCacheInfo, WindowSample


class BadInput(ValueError):
    """The input is not a statusline JSON object (the message says why, briefly)."""


def parse(data: bytes | str, observed_at: float) -> tuple[LimitSample, dict[str, Any]]:
    """(the sample, the decoded object). Raises BadInput for empty or non-object input."""
    if not data or not data.strip():
        raise BadInput("empty input")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise BadInput("not a JSON object")
    return sample_of(doc, observed_at), doc


def sample_of(doc: dict[str, Any], observed_at: float) -> LimitSample:
    limits = _dict(doc.get("rate_limits"))
    context = _dict(doc.get("context_window"))
    model = _dict(doc.get("model"))
    size = _number(context.get("context_window_size"))
    return LimitSample(
        observed_at=observed_at,
        session_id=_text(doc.get("session_id")),
        five_hour=_window(limits.get("five_hour")),
        seven_day=_window(limits.get("seven_day")),
        spend_limit=_window(doc.get("spend_limit")) or _window(limits.get("spend_limit")),
        cost_usd=_number(_dict(doc.get("cost")).get("total_cost_usd")),
        context_used_percentage=_number(context.get("used_percentage")),
        context_window_size=int(size) if size is not None else None,
        prompt_cache=_prompt_cache(doc.get("prompt_cache")),
        model=_text(model.get("display_name")) or _text(model.get("id")),
    )


def _window(value: object) -> WindowSample | None:
    window = _dict(value)
    used = _number(window.get("used_percentage"))
    if used is None:
        return None
    return WindowSample(used, _number(window.get("resets_at")))


def _prompt_cache(value: object) -> PromptCacheInfo | None:
    cache = _dict(value)
    if not cache:
        return None
    requests, misses = _number(cache.get("requests")), _number(cache.get("misses"))
    warm = cache.get("warm")
    return PromptCacheInfo(
        hit_ratio=_number(cache.get("hit_ratio")),
        requests=None if requests is None else int(requests),
        misses=None if misses is None else int(misses),
        last_miss_cause=_text(cache.get("last_miss_cause")),
        last_miss_at=_number(cache.get("last_miss_at")),
        expires_at=_number(cache.get("expires_at")),
        ttl=_text(cache.get("ttl")),
        warm=warm if isinstance(warm, bool) else None,
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
