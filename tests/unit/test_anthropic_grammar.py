"""The stream-grammar checker itself: it accepts a documented stream and rejects each kind of violation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.anthropic_grammar import GrammarError, check_events, check_stream, parse_sse

START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 0},
    },
}
PING: dict[str, Any] = {"type": "ping"}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str = "end_turn", sequence: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]


TEXT = [block_start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="hi"), stop(0)]
TOOL = [
    block_start(1, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}),
    delta(1, type="input_json_delta", partial_json='{"a":'),
    delta(1, type="input_json_delta", partial_json=" 1}"),
    stop(1),
]


def events(*items: dict[str, Any]) -> list[tuple[str | None, Any]]:
    return [(item["type"], item) for item in items]


def test_a_documented_stream_passes_and_is_summarised() -> None:
    result = check_events(events(START, PING, *TEXT, PING, *TOOL, *end("tool_use")))
    assert result.text == "hi"
    assert result.blocks[1]["input"] == {"a": 1}
    assert result.stop_reason == "tool_use"
    assert result.pings == 2 and result.pings_before_first_block == 1


def test_an_error_may_end_any_prefix() -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    assert check_events(events(START, PING, TEXT[0], TEXT[1], error)).error == error["error"]


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        ([PING, START, *TEXT, *end()], "open with message_start"),
        ([START, *TEXT, *end()], "must be a ping"),
        ([START, PING, *TEXT, stop(0), *end()], "doubled content_block_stop"),
        ([START, PING, block_start(1, {"type": "text", "text": ""}), *end()], "index 1 != 0"),
        ([START, PING, TEXT[0], block_start(1, {"type": "text", "text": ""})], "while another is open"),
        ([START, PING, block_start(0, {"type": "text", "text": ""}), stop(0), *end()], "empty text block"),
        ([START, PING, *TEXT, *end("tool_use")], "stop_reason 'tool_use'"),
        ([START, PING, *TEXT, *TOOL, *end("end_turn")], "stop_reason 'end_turn'"),
        ([START, PING, *TEXT, *end("stop_sequence")], "stop_sequence None"),
        ([START, PING, *TEXT, *end("end_turn", "X")], "stop_sequence 'X'"),
        ([START, PING, *TEXT, end()[0]], "without message_stop"),
        ([START, PING, *TEXT, *end(), PING], "after message_stop"),
        ([START, PING, TEXT[0], delta(0, type="thinking_delta", thinking="x")], "inside a text block"),
        (
            [
                START,
                PING,
                block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
                delta(0, type="thinking_delta", thinking="x"),
                stop(0),
            ],
            "without a signature_delta",
        ),
        (
            [
                START,
                PING,
                block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
                delta(0, type="signature_delta", signature="s"),
                delta(0, type="thinking_delta", thinking="x"),
            ],
            "after the thinking block's signature",
        ),
        (
            [
                START,
                PING,
                block_start(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
                delta(0, type="input_json_delta", partial_json="[1]"),
                stop(0),
            ],
            "not an object",
        ),
        ([START, PING, *TEXT, end()[0], end()[0]], "a second message_delta"),
    ],
)
def test_each_violation_is_caught(stream: list[dict[str, Any]], why: str) -> None:
    with pytest.raises(GrammarError, match=why):
        check_events(events(*stream))


def test_event_name_must_match_the_data_type() -> None:
    with pytest.raises(GrammarError, match="does not match"):
        check_events([("message_start", START), ("content_block_start", PING)])


def test_raw_sse_parsing_joins_data_lines_and_skips_comments() -> None:
    raw = ': comment\nevent: ping\ndata: {"type":\ndata:  "ping"}\n\n' + "event: x\r\ndata: 1\r\n\r\n"
    assert parse_sse(raw) == [("ping", {"type": "ping"}), ("x", 1)]
    wire = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in [START, PING, *TEXT, *end()])
    assert check_stream(wire.encode()).text == "hi"
