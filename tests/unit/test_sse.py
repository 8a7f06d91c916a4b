"""The SSE parser on event sequences in the documented upstream format, split at every possible byte."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from qwen_server.core.sse import SSEParser

QWEN_STREAM = (
    b'data: {"response.created": {"chat_id": "c1", "parent_id": "p1", "response_id": "r1"}}\n\n'
    b'data: {"choices": [{"delta": {"role": "assistant", "content": "\xe4\xbd\xa0\xe5\xa5\xbd", "phase": "answer",'
    b' "status": "typing"}}], "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}}\n\n'
    b'data: {"choices": [{"delta": {"content": "", "phase": "answer", "status": "finished"}}]}\n\n'
)


def _parse_in_pieces(raw: bytes, cuts: list[int]) -> list[str]:
    parser = SSEParser()
    data: list[str] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(raw)]:
        data += [e.data for e in parser.feed(raw[start:cut])]
        start = cut
    data += [e.data for e in parser.close()]
    return data


def test_documented_qwen_sequence() -> None:
    events = _parse_in_pieces(QWEN_STREAM, [])
    assert len(events) == 3
    assert orjson.loads(events[0])["response.created"]["response_id"] == "r1"
    assert orjson.loads(events[1])["choices"][0]["delta"]["content"] == "你好"


@given(st.lists(st.integers(min_value=0, max_value=len(QWEN_STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert _parse_in_pieces(QWEN_STREAM, cuts) == _parse_in_pieces(QWEN_STREAM, [])


def test_crlf_comments_event_names_and_multiline_data() -> None:
    raw = b": keep-alive\r\nevent: message_start\r\ndata: line one\r\ndata: line two\r\n\r\ndata: [DONE]\n\n"
    parser = SSEParser()
    events = parser.feed(raw)
    assert [(e.event, e.data) for e in events] == [("message_start", "line one\nline two"), (None, "[DONE]")]


def test_a_final_event_without_blank_line_is_flushed_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a": 1}') == []
    assert [e.data for e in parser.close()] == ['{"a": 1}']
