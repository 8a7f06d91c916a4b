"""The answer as the client asked for it: stops, limits, parsed calls, one Usage and one Finish."""

from __future__ import annotations

from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    TextDelta,
    TextPart,
    ToolCallStart,
    ToolSpec,
    Usage,
)
from qwen_server.core.output import OutputShaper


def _run(request: ChatRequest, events: list[Event]) -> list[Event]:
    shaper = OutputShaper(request)
    out: list[Event] = []
    for event in events:
        out += shaper.feed(event)
        if shaper.done:
            break
    return out + shaper.close() + shaper.final(input_tokens_estimate=7)


def _request(**kw: object) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [TextPart("q")])], **kw)  # type: ignore[arg-type]


def test_upstream_usage_wins_and_estimate_is_marked() -> None:
    out = _run(_request(), [TextDelta("hello world"), Usage(3, 2)])
    assert out[-2] == Usage(3, 2) and out[-1] == Finish("stop")
    estimated = _run(_request(), [TextDelta("hello world")])[-2]
    assert isinstance(estimated, Usage) and estimated.estimated and estimated.input_tokens == 7


def test_stop_sequence_reports_which() -> None:
    out = _run(_request(stop=["##"]), [TextDelta("ab#"), TextDelta("#cd")])
    assert [e.text for e in out if isinstance(e, TextDelta)] == ["ab"]
    assert out[-1] == Finish("stop_sequence", stop_sequence="##")


def test_tool_calls_set_the_finish_reason_and_text_stays_text() -> None:
    tools = [ToolSpec("f", "", {})]
    out = _run(_request(tools=tools), [TextDelta('ok <tool_call>{"name": "f", "arguments": {}}</tool_call>')])
    assert [e.name for e in out if isinstance(e, ToolCallStart)] == ["f"]
    assert out[-1] == Finish("tool_calls")
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "ok"


def test_length_limit_cuts_and_stops_reading() -> None:
    out = _run(_request(max_tokens=2), [TextDelta("aaaa bbbb cccc dddd"), TextDelta("more")])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "aaaa bbb"
    assert out[-1] == Finish("length")


def test_tool_choice_none_cuts_call_markup_out_of_the_text() -> None:
    block = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    tools = [ToolSpec("f")]
    for request in (_request(tools=tools, tool_choice="none"), _request(tool_choice="none")):
        out = _run(request, [TextDelta("before " + block[:9]), TextDelta(block[9:] + " after")])
        assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "before after"
        assert not any(isinstance(e, ToolCallStart) for e in out) and out[-1] == Finish("stop")


def test_without_tools_or_tool_choice_text_is_left_alone() -> None:
    text = 'quoting <tool_call>{"name": "f"}</tool_call> verbatim'
    out = _run(_request(), [TextDelta(text)])
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == text
