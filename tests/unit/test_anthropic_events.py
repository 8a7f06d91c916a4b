"""Neutral events → Anthropic stream events: the grammar, stop reasons, thinking signatures, tool blocks.

Each answer is rendered to wire bytes and run through the independent grammar checker; the collected body
is compared with what the official SDK's own accumulator builds from the same events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_server.api.anthropic.collect import fold, tool_input
from qwen_server.api.anthropic.events import MessageEvents, StreamEvent
from qwen_server.api.anthropic.signature import sign_thinking
from qwen_server.api.anthropic.stream import PING_LINE, sse
from qwen_server.core.model import (
    Event,
    Finish,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from tests.anthropic_grammar import CheckedStream, check_stream


def translate(events: list[Event], *, omit_thinking: bool = False) -> list[StreamEvent]:
    translator = MessageEvents("claude-sonnet-4-6", 12, omit_thinking=omit_thinking)
    out = [translator.start()]
    for event in events:
        out.extend(translator.feed(event))
    return out


def wire(stream_events: list[StreamEvent]) -> bytes:
    first, *rest = stream_events
    return sse(first) + PING_LINE + b"".join(sse(e) for e in rest)


def checked(events: list[Event], **kwargs: Any) -> CheckedStream:
    return check_stream(wire(translate(events, **kwargs)))


def call(index: int, name: str, *pieces: str) -> list[Event]:
    return [
        ToolCallStart(index, f"call_{index}", name),
        *(ToolCallDelta(index, p) for p in pieces),
        ToolCallEnd(index),
    ]


END: list[Event] = [Usage(10, 7), Finish("stop")]


def test_text_answer_is_one_text_block_ending_the_turn() -> None:
    result = checked([TextDelta("Hello"), TextDelta(", world"), *END])
    assert [b["type"] for b in result.blocks] == ["text"]
    assert result.text == "Hello, world"
    assert result.stop_reason == "end_turn" and result.stop_sequence is None
    assert result.usage == {
        "input_tokens": 10,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert result.message["model"] == "claude-sonnet-4-6"
    assert result.message["usage"]["input_tokens"] == 12


def test_empty_pieces_open_no_block() -> None:
    result = checked([TextDelta(""), ThinkingDelta(""), *END])
    assert result.blocks == []
    assert result.stop_reason == "end_turn"


def test_thinking_then_text_with_signature_last() -> None:
    stream = translate([ThinkingDelta("let me "), ThinkingDelta("think"), TextDelta("42"), *END])
    result = check_stream(wire(stream))
    assert [b["type"] for b in result.blocks] == ["thinking", "text"]
    assert result.thinking == "let me think"
    assert result.blocks[0]["signature"] == sign_thinking("let me think")
    kinds = [e.get("delta", {}).get("type") or e["type"] for e in stream]
    assert kinds.index("signature_delta") + 1 == kinds.index("content_block_stop")


def test_omitted_thinking_keeps_the_block_and_signature_but_not_the_text() -> None:
    result = checked([ThinkingDelta("secret"), TextDelta("answer"), *END], omit_thinking=True)
    assert result.blocks[0] == {"type": "thinking", "thinking": "", "signature": sign_thinking("secret")}
    assert result.text == "answer"


def test_signature_is_deterministic_and_depends_on_the_text() -> None:
    assert sign_thinking("abc") == sign_thinking("abc")
    assert sign_thinking("abc") != sign_thinking("abd")


def test_text_then_two_tool_calls_stop_for_tool_use() -> None:
    events = [
        TextDelta("Checking both."),
        *call(0, "get_weather", '{"city": ', '"Paris"}'),
        *call(1, "get_time", '{"tz": "CET"}'),
        Usage(3, 9),
        Finish("tool_calls"),
    ]
    result = checked(events)
    assert [b["type"] for b in result.blocks] == ["text", "tool_use", "tool_use"]
    assert result.blocks[1] == {
        "type": "tool_use",
        "id": "toolu_0",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert result.blocks[2]["input"] == {"tz": "CET"}
    assert result.stop_reason == "tool_use"


def test_a_tool_call_forces_tool_use_whatever_the_upstream_said() -> None:
    for finish in (Finish("stop"), Finish("length"), Finish("stop_sequence", "END")):
        result = checked([*call(0, "f", "{}"), Usage(1, 1), finish])
        assert result.stop_reason == "tool_use"
        assert result.stop_sequence is None


def test_tool_calls_reason_without_a_tool_block_ends_the_turn() -> None:
    assert (
        checked([TextDelta("no call after all"), Usage(1, 1), Finish("tool_calls")]).stop_reason == "end_turn"
    )


def test_tool_call_without_arguments_has_empty_input() -> None:
    result = checked([ToolCallStart(0, "call_a", "ping"), ToolCallEnd(0), *END])
    assert result.blocks[0]["input"] == {}


def test_text_after_a_tool_call_opens_a_new_block() -> None:
    result = checked([*call(0, "f", '{"a": 1}'), TextDelta("done"), *END])
    assert [b["type"] for b in result.blocks] == ["tool_use", "text"]


def test_pieces_for_a_closed_call_are_dropped_not_misplaced() -> None:
    events: list[Event] = [
        *call(0, "f", '{"a": 1}'),
        ToolCallStart(1, "call_1", "g"),
        ToolCallDelta(0, "late"),
        ToolCallEnd(0),
    ]
    result = checked([*events, ToolCallDelta(1, '{"b": 2}'), ToolCallEnd(1), *END])
    assert [b["input"] for b in result.blocks] == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("finish", "reason", "sequence"),
    [
        (Finish("stop"), "end_turn", None),
        (Finish("length"), "max_tokens", None),
        (Finish("stop_sequence", "END"), "stop_sequence", "END"),
        (Finish("content_filter"), "refusal", None),
    ],
)
def test_stop_reasons(finish: Finish, reason: str, sequence: str | None) -> None:
    result = checked([TextDelta("x"), Usage(1, 1), finish])
    assert (result.stop_reason, result.stop_sequence) == (reason, sequence)


def test_events_after_finish_add_nothing() -> None:
    translator = MessageEvents("m", 1)
    translator.start()
    assert translator.feed(Finish())[-1] == {"type": "message_stop"}
    assert translator.feed(Finish()) == []


def test_missing_usage_falls_back_to_the_input_estimate() -> None:
    result = checked([TextDelta("x"), Finish()])
    assert result.usage["input_tokens"] == 12 and result.usage["output_tokens"] == 0


def _sdk_fold(stream: list[StreamEvent]) -> dict[str, Any]:
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in stream:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot.to_dict(exclude_none=True)


def _without_none(value: Any) -> Any:
    """The SDK leaves out fields that are null; the wire body keeps Anthropic's nulls."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def test_collected_body_matches_the_sdk_accumulator() -> None:
    stream = translate(
        [
            ThinkingDelta("hmm"),
            TextDelta("Let me check."),
            *call(0, "get_weather", '{"city":', '"Paris"}'),
            Usage(5, 20),
            Finish("tool_calls"),
        ]
    )
    body = fold(stream)
    assert _without_none(body) == _sdk_fold(stream)
    assert set(body) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert body["stop_sequence"] is None  # present, null: Anthropic's shape
    assert body["content"][2]["input"] == {"city": "Paris"}


def test_tool_input_repairs_or_refuses_non_objects() -> None:
    assert tool_input("") == {}
    assert tool_input('{"a": [1, 2') == {"a": [1, 2]}
    assert tool_input("[1, 2]") == {}
    assert tool_input("not json at all {{{") == {}


# ---- any sequence keeps the grammar ---------------------------------------------------------------------

_piece = st.text(max_size=6)


@st.composite
def _answers(draw: st.DrawFn) -> list[Event]:
    events: list[Event] = []
    calls = 0
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["text", "thinking", "call", "stray"]))
        if kind == "text":
            events.append(TextDelta(draw(_piece)))
        elif kind == "thinking":
            events.append(ThinkingDelta(draw(_piece)))
        elif kind == "call":
            # integers within I-JSON's exact range: beyond 64 bits orjson (the gateway) and json (the SDK) differ
            ints = st.integers(-(2**53), 2**53)
            args = json.dumps(draw(st.dictionaries(st.text(max_size=3), ints, max_size=2)))
            cut = draw(st.integers(0, len(args)))
            events.extend(call(calls, "tool", args[:cut], args[cut:]))
            calls += 1
        else:
            stray: list[Event] = [ToolCallDelta(99, "x"), ToolCallEnd(99)]
            events.append(draw(st.sampled_from(stray)))
    events.append(Usage(1, draw(st.integers(0, 50))))
    events.append(
        draw(
            st.sampled_from(
                [Finish("stop"), Finish("length"), Finish("tool_calls"), Finish("stop_sequence", "S")]
            )
        )
    )
    return events


@settings(max_examples=120, deadline=None)
@given(_answers(), st.booleans())
def test_any_answer_keeps_the_grammar_and_folds_like_the_sdk(events: list[Event], omit: bool) -> None:
    stream = translate(events, omit_thinking=omit)
    result = check_stream(wire(stream))
    assert result.text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert _without_none(fold(stream)) == _sdk_fold(stream)
