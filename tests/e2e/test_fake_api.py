"""The fake Messages API on its own, over real HTTP: routing, SSE framing, JSON answers, side calls."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from .fake_api import FakeAnthropicApi, Script, Text, ToolCall, Turn, Usage

SCRIPTS = {
    "demo": Script([
        Turn([Text("Running."), ToolCall("Bash", {"command": "echo hi"})],
             Usage(input_tokens=12, output_tokens=40, cache_read=7, cache_5m=1000, cache_1h=2000)),
        Turn([Text("Done here.")], Usage(input_tokens=8, output_tokens=20, cache_read=3000, web_searches=2)),
    ]),
}
TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def post(api: FakeAnthropicApi, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(api.base_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def sse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in data.decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def api():
    with FakeAnthropicApi(SCRIPTS) as server:
        yield server


def test_streamed_turn_follows_the_script(api: FakeAnthropicApi) -> None:
    first = {"model": "m1", "stream": True, "tools": TOOLS,
             "messages": [{"role": "user", "content": [{"type": "text", "text": "<<e2e:demo>> go"}]}]}
    status, headers, data = post(api, "/v1/messages?beta=true", first)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = sse_events(data)
    names = [name for name, _ in events]
    block = ["content_block_start", "content_block_delta", "content_block_stop"]
    assert names == ["message_start", *block, *block, "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert headers["request-id"].startswith("req_") and start["id"].startswith("msg_")
    assert start["usage"]["cache_creation"] == {"ephemeral_5m_input_tokens": 1000,
                                                "ephemeral_1h_input_tokens": 2000}
    tool_json = "".join(e["delta"].get("partial_json", "") for n, e in events if n == "content_block_delta")
    assert json.loads(tool_json) == {"command": "echo hi"}
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 40 and delta["usage"]["cache_creation_input_tokens"] == 3000

    # The next request carries the first answer and a tool result: step 1, ending the turn.
    second = dict(first, messages=first["messages"] + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "hi"}]},
    ])
    events = sse_events(post(api, "/v1/messages", second)[2])
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"]["server_tool_use"]["web_search_requests"] == 2
    assert [s.step for s in api.scripted("demo")] == [0, 1]


def test_json_answer_side_calls_and_other_paths(api: FakeAnthropicApi) -> None:
    prompt = {"role": "user", "content": "<<e2e:demo>> go"}
    body = json.loads(post(api, "/v1/messages", {"model": "m2", "tools": TOOLS, "messages": [prompt]})[2])
    assert body["model"] == "m2" and body["stop_reason"] == "tool_use"
    assert [b["type"] for b in body["content"]] == ["text", "tool_use"]
    assert body["usage"]["input_tokens"] == 12

    # A title-generation style call quotes the prompt but offers no tools: zero usage, not scripted.
    side = json.loads(post(api, "/v1/messages", {"model": "m2", "messages": [prompt]})[2])
    assert side["stop_reason"] == "end_turn" and side["usage"]["output_tokens"] == 0
    assert len(api.scripted()) == 1

    counted = json.loads(post(api, "/v1/messages/count_tokens", {"messages": [prompt]})[2])
    assert counted["input_tokens"] > 0
    assert post(api, "/api/something/new", {})[0] == 200
    assert api.unknown_paths == ["POST /api/something/new"]
