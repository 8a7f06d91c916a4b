"""The answer as the client asked for it: stops, limits, parsed calls, one Usage and one Finish."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    TextDelta,
    TextPart,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
    Usage,
)
from qwen_server.core.output import OutputShaper
from qwen_server.core.qwen_vocab import encoding
from qwen_server.core.tokens import count_tokens


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
    assert estimated.output_tokens == 2  # "hello", " world"


def test_the_prompt_is_tokenized_only_when_the_upstream_gave_no_usage() -> None:
    asked: list[bool] = []

    def estimate() -> int:
        asked.append(True)
        return 9

    reported = OutputShaper(_request())
    reported.feed(Usage(3, 2))
    assert reported.final(estimate)[0] == Usage(3, 2) and not asked
    assert OutputShaper(_request()).final(estimate)[0] == Usage(9, 0, estimated=True) and asked


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


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_length_limit_cuts_and_stops_reading() -> None:
    # Qwen's tokens: "aaaa", " b", "bbb", " c", ...
    out = _run(_request(max_tokens=2), [TextDelta("aaaa bbbb cccc dddd"), TextDelta("more")])
    assert _text(out) == "aaaa b"  # the first two tokens of the text, not its longest 2-token prefix
    assert out[-1] == Finish("length")


def test_the_limit_counts_the_text_whole_not_chunk_by_chunk() -> None:
    """One character a chunk: per-chunk estimates would spend a token on each; the text is 4 tokens."""
    text = "Bonjour tout le monde"  # Bonjour | tout | le | monde
    out = _run(_request(max_tokens=4), [TextDelta(ch) for ch in text])
    assert _text(out) == text and out[-1] == Finish("stop")
    cut = _run(_request(max_tokens=2), [TextDelta(ch) for ch in text])
    assert _text(cut) == "Bonjour tout" and cut[-1] == Finish("length")


def test_the_upstreams_count_wins_and_later_text_adds_to_it() -> None:
    shaper = OutputShaper(_request())
    shaper.feed(TextDelta("hello world"))
    assert shaper.output_tokens == 2  # the tokenizer's count, before the upstream said anything
    shaper.feed(Usage(5, 40))
    assert shaper.output_tokens == 40
    shaper.feed(TextDelta(" again"))
    assert shaper.output_tokens == 41
    limited = _run(_request(max_tokens=41), [Usage(5, 40), TextDelta(" one two")])
    assert _text(limited) == " one" and limited[-1] == Finish("length")


def test_near_the_limit_an_unfinished_word_waits_for_the_next_chunk() -> None:
    shaper = OutputShaper(_request(max_tokens=3))
    assert _text(shaper.feed(TextDelta("Bonjour to"))) == "Bonjour"  # " to" may become " tout"
    assert _text(shaper.feed(TextDelta("ut le"))) == " tout"
    assert _text(shaper.close()) == " le" and not shaper.done
    before_call = OutputShaper(_request(max_tokens=3, tools=[ToolSpec("f")]), native_tools=True)
    out = before_call.feed(TextDelta("Bonjour to")) + before_call.feed(ToolCallStart(0, "c", "f"))
    assert out == [TextDelta("Bonjour"), TextDelta(" to"), ToolCallStart(0, "c", "f")]  # text stays first


def test_native_tools_pass_as_events_and_text_is_not_parsed() -> None:
    tools = [ToolSpec("f", "", {})]
    markup = 'see <tool_call>{"name": "f", "arguments": {}}</tool_call>'
    events: list[Event] = [
        TextDelta(markup),
        ToolCallStart(0, "call_1", "f"),
        ToolCallDelta(0, '{"a": 1}'),
        ToolCallEnd(0),
        Finish("tool_calls"),
    ]
    shaper = OutputShaper(_request(tools=tools), native_tools=True)
    out = [e for event in events for e in shaper.feed(event)] + shaper.close() + shaper.final(7)
    assert _text(out) == markup
    assert [type(e) for e in out if not isinstance(e, TextDelta)] == [
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        Usage,
        Finish,
    ]
    assert out[-1] == Finish("tool_calls")
    assert shaper.output_tokens == count_tokens(markup) + count_tokens('{"a": 1}')


def test_logprobs_ride_along_with_the_text_they_belong_to() -> None:
    lp: list[TokenLogprob] = [{"token": "ab", "logprob": -0.1, "bytes": None, "top_logprobs": []}]
    lp2: list[TokenLogprob] = [{"token": "#", "logprob": -0.2, "bytes": None, "top_logprobs": []}]
    out = _run(_request(stop=["##"]), [TextDelta("ab", lp), TextDelta("#", lp2), TextDelta("c")])
    # "#" is held back (it may start the stop sequence), so its logprobs wait for the text that goes out
    gathered = [t for e in out if isinstance(e, TextDelta) for t in e.logprobs or ()]
    assert _text(out) == "ab#c" and gathered == lp + lp2


WORDS = st.lists(
    st.sampled_from(["Bonjour", " tout", " le", " monde", ",", " 你好", "世界", "\n", " 42", "s"]),
    max_size=40,
)


@settings(max_examples=120, deadline=None)
@given(WORDS, st.integers(1, 30), st.data())
def test_a_limit_keeps_the_first_tokens_of_the_text_however_it_is_chunked(
    words: list[str], limit: int, data: st.DataObject
) -> None:
    enc = encoding()
    assert enc is not None
    text = "".join(words)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=30)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    out = _run(_request(max_tokens=limit), [TextDelta(c) for c in chunks if c])
    expected = enc.decode(enc.encode_ordinary(text)[:limit])
    assert _text(out) == expected
    assert out[-1] == (Finish("length") if expected != text else Finish("stop"))


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
