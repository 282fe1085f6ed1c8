"""A scripted stand-in for the Anthropic Messages API, on loopback, for driving the real CLI.

Claude Code only needs ``ANTHROPIC_BASE_URL`` pointed here. Answers come from a script of turns
chosen per conversation: a marker such as ``<<e2e:tools>>`` in the user's prompt (or in a subagent's
task prompt) names the script, and the number of assistant messages already in the request after
that prompt says which turn is next. Routing by content rather than arrival order keeps the
CLI's side calls (token counting, title or quota checks, ...) from shifting the script.
Requests without a marker or without tools (side calls) get a short text answer with zero
usage and are logged.

Run standalone (``python tests/e2e/fake_api.py --port 8765``) to poke at a CLI by hand.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKER = re.compile(r"<<e2e:([A-Za-z0-9_.-]+)>>")
HOLD_LIMIT_S = 60.0


@dataclass(frozen=True)
class Usage:
    """The usage one response reports. ``cache_5m + cache_1h`` is the cache write total."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    web_searches: int = 0

    @property
    def cache_creation(self) -> int:
        return self.cache_5m + self.cache_1h

    def start_json(self) -> dict[str, Any]:
        """Usage as message_start carries it: prompt side final, output a first count."""
        body = self._prompt_side()
        body["output_tokens"] = min(1, self.output_tokens)
        return body

    def final_json(self) -> dict[str, Any]:
        body = self._prompt_side()
        body["output_tokens"] = self.output_tokens
        body["server_tool_use"] = {"web_search_requests": self.web_searches, "web_fetch_requests": 0}
        return body

    def _prompt_side(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_5m,
                "ephemeral_1h_input_tokens": self.cache_1h,
            },
            "service_tier": "standard",
        }


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: Mapping[str, Any]


Block = Text | ToolCall


@dataclass(frozen=True)
class Turn:
    """One scripted response. ``delay_s`` or ``hold`` (answer once the event is set, or after
    ``HOLD_LIMIT_S``) keep the CLI waiting, to watch a session mid-run."""

    blocks: Sequence[Block]
    usage: Usage
    delay_s: float = 0.0
    hold: threading.Event | None = field(default=None, compare=False)
    # HTTP statuses answered (as API errors) to the first attempts at this turn: the CLI
    # retries 529/500 and gives up on others, so ``(529,)`` is one retry, ``(403,)`` a failure.
    fail_first: tuple[int, ...] = ()

    @property
    def stop_reason(self) -> str:
        return "tool_use" if any(isinstance(b, ToolCall) for b in self.blocks) else "end_turn"


FALLBACK_TURN = Turn([Text("Done.")], Usage())


@dataclass
class Served:
    """What one request got: for assertions and for debugging a changed CLI."""

    path: str
    model: str | None
    script: str | None
    step: int | None
    stream: bool
    message_id: str | None = None
    request_id: str | None = None
    usage: Usage | None = None
    tools: tuple[str, ...] = ()
    system: str = ""
    # The CLI's X-Claude-Code-Session-Id header: the session that made the call.
    session: str | None = None
    status: int = 200  # an error status when the turn was answered with an injected error
    called: tuple[str, ...] = ()  # the tools the answer asked for
    beyond_script: bool = False  # answered with the script's tail (a call it did not plan)

    def to_json(self) -> dict[str, Any]:
        """One row of the ledger of what the API answered (written beside a corpus)."""
        usage = self.usage
        return {
            "path": self.path, "model": self.model, "script": self.script, "step": self.step,
            "session": self.session, "status": self.status, "message_id": self.message_id,
            "request_id": self.request_id, "called": list(self.called),
            "beyond_script": self.beyond_script,
            "usage": None if usage is None else {
                "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                "cache_read": usage.cache_read, "cache_5m": usage.cache_5m, "cache_1h": usage.cache_1h,
                "web_searches": usage.web_searches,
            },
        }  # fmt: skip


@dataclass
class Script:
    turns: Sequence[Turn]
    # After the scripted turns run out, a conversation gets this text turn.
    tail: Turn = field(default=FALLBACK_TURN)

    def turn(self, step: int) -> Turn:
        return self.turns[step] if step < len(self.turns) else self.tail


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        return "\n".join(texts)
    return ""


def route(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, int]:
    """Script name and step for a request: the last marked user prompt, and the number of
    assistant messages after it (one per completed turn of that conversation)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        found = MARKER.findall(_text_of(message.get("content")))
        if found:
            step = sum(1 for m in messages[index + 1 :] if m.get("role") == "assistant")
            return found[-1], step
    return None, 0


class FakeAnthropicApi:
    """``with FakeAnthropicApi(scripts) as api:`` then ``api.base_url`` for ANTHROPIC_BASE_URL."""

    def __init__(self, scripts: Mapping[str, Script], host: str = "127.0.0.1", port: int = 0) -> None:
        self.scripts = dict(scripts)
        self.served: list[Served] = []
        self.unknown_paths: list[str] = []
        self._lock = threading.Lock()
        # A random prefix keeps ids distinct between servers, as real ids are.
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._failed: dict[tuple[str, int, str], int] = {}  # (script, step, session) -> errors answered
        # Extra response headers of /v1/messages, e.g. ratelimit_headers(...): a test may change
        # them between turns.
        self.response_headers: dict[str, str] = {}
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAnthropicApi:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropicApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def scripted(self, script: str | None = None) -> list[Served]:
        """Requests answered from a script (all scripts, or the one named)."""
        with self._lock:
            return [s for s in self.served if s.script is not None and (script is None or s.script == script)]

    # -- answering -------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._prefix}{next(self._counter):06d}"

    def answer(self, request: Mapping[str, Any], session: str | None = None) -> tuple[Turn, Served, str, str]:
        name, step = route(request.get("messages") or [])
        if not request.get("tools"):
            # Side calls (session title generation, ...) quote the prompt but offer no tools. Their
            # cost never reaches a transcript, so they answer with zero usage.
            name = None
        script = self.scripts.get(name) if name else None
        turn = script.turn(step) if script else FALLBACK_TURN
        ident = self._next_id()
        served = Served(
            path="/v1/messages",
            model=request.get("model"),
            script=name if script else None,
            step=step if script else None,
            stream=bool(request.get("stream")),
            message_id=f"msg_e2e{ident}",
            request_id=f"req_e2e{ident}",
            usage=turn.usage,
            tools=tuple(t.get("name", "") for t in request.get("tools") or [] if isinstance(t, dict)),
            system=_text_of(request.get("system"))[:300],
            session=session,
            called=tuple(b.name for b in turn.blocks if isinstance(b, ToolCall)),
            beyond_script=script is not None and step >= len(script.turns),
        )
        with self._lock:
            if script is not None and turn.fail_first:
                attempt = (name or "", step, session or "")
                failed = self._failed.get(attempt, 0)
                if failed < len(turn.fail_first):
                    self._failed[attempt] = failed + 1
                    served.status = turn.fail_first[failed]
                    served.message_id = served.usage = None
                    served.called = ()
                    served.request_id = f"req_e2eerr{ident}"
            self.served.append(served)
        return turn, served, served.message_id or "", served.request_id or ""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self._read_body()
                self._other()

            def do_HEAD(self) -> None:  # noqa: N802
                self._read_body()
                self._other()

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                body = self._read_body()
                try:
                    request = json.loads(body or b"{}")
                except ValueError:
                    self._json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                "message": "body is not JSON"}})
                    return
                if path == "/v1/messages":
                    self._messages(request)
                elif path == "/v1/messages/count_tokens":
                    # A rough estimate is all the CLI uses this for.
                    self._json(200, {"input_tokens": max(1, len(body) // 4)})
                else:
                    self._other()

            def _other(self) -> None:
                """Paths this fake does not know (connectivity checks, ...): logged, answered {}."""
                with api._lock:
                    api.unknown_paths.append(f"{self.command} {self.path}")
                    api.served.append(Served(self.path, None, None, None, False))
                self._json(200, {})

            def _read_body(self) -> bytes:
                return read_body(self)

            def _json(self, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _messages(self, request: Mapping[str, Any]) -> None:
                session = self.headers.get("X-Claude-Code-Session-Id")
                turn, served, message_id, request_id = api.answer(request, session)
                if served.status != 200:
                    kind = {529: "overloaded_error", 500: "api_error", 403: "permission_error",
                            400: "invalid_request_error"}.get(served.status, "api_error")
                    error = {"type": "error", "error": {"type": kind, "message": f"injected {served.status}"},
                             "request_id": served.request_id}
                    self._json(served.status, error, {"request-id": served.request_id or ""})
                    return
                if turn.delay_s:
                    time.sleep(turn.delay_s)
                if turn.hold is not None:
                    turn.hold.wait(HOLD_LIMIT_S)
                model = request.get("model") or "claude-opus-4-8"
                headers = {"request-id": request_id, **api.response_headers}
                if not served.stream:
                    self._json(200, full_message(turn, model, message_id), headers)
                    return
                data = sse_stream(turn, model, message_id)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def ratelimit_headers(five_hour: float, five_hour_reset: float, seven_day: float,
                      seven_day_reset: float) -> dict[str, str]:  # fmt: skip
    """The subscription rate-limit headers the API sends a subscriber (utilization 0..1, resets
    in epoch seconds). Claude Code passes them to its statusline command as ``rate_limits``."""
    return {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-5h-utilization": f"{five_hour:g}",
        "anthropic-ratelimit-unified-5h-reset": str(int(five_hour_reset)),
        "anthropic-ratelimit-unified-7d-utilization": f"{seven_day:g}",
        "anthropic-ratelimit-unified-7d-reset": str(int(seven_day_reset)),
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
    }


def _content(turn: Turn, message_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for index, block in enumerate(turn.blocks):
        if isinstance(block, Text):
            blocks.append({"type": "text", "text": block.text})
        else:
            tool_id = f"toolu_{message_id.removeprefix('msg_')}_{index}"
            blocks.append({"type": "tool_use", "id": tool_id, "name": block.name, "input": dict(block.input)})
    return blocks


def full_message(turn: Turn, model: str, message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(turn, message_id),
        "stop_reason": turn.stop_reason,
        "stop_sequence": None,
        "usage": turn.usage.final_json(),
    }


def sse_stream(turn: Turn, model: str, message_id: str) -> bytes:
    """The response as the streaming API sends it: start, one start/delta/stop per block, the
    final usage in message_delta, stop."""
    events: list[tuple[str, dict[str, Any]]] = []
    head = full_message(turn, model, message_id)
    head.update(content=[], stop_reason=None, usage=turn.usage.start_json())
    events.append(("message_start", {"type": "message_start", "message": head}))
    for index, block in enumerate(_content(turn, message_id)):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": start}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
        "usage": turn.usage.final_json(),
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def demo_scripts() -> dict[str, Script]:
    """A small script for trying a CLI by hand: prompt with ``<<e2e:demo>> hello``."""
    return {
        "demo": Script([
            Turn([Text("Running a command."), ToolCall("Bash", {"command": "echo hi"})],
                 Usage(input_tokens=12, output_tokens=40, cache_5m=1000, cache_1h=2000)),
            Turn([Text("All done.")],
                 Usage(input_tokens=8, output_tokens=20, cache_read=3000, web_searches=1)),
        ]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    api = FakeAnthropicApi(demo_scripts(), port=args.port).start()
    print(f"ANTHROPIC_BASE_URL={api.base_url} ANTHROPIC_API_KEY=x  (prompt with '<<e2e:demo>> hello')")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """A request's body as Claude Code's HTTP clients send it: by Content-Length or chunked,
    maybe gzipped."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
        data = b"".join(parts)
    else:
        data = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    if handler.headers.get("Content-Encoding", "").lower() == "gzip":
        data = gzip.decompress(data)
    return data
