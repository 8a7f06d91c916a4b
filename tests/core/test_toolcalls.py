"""The incremental Hermes tool-call parser: what comes out at each feed, repairs, fallbacks, properties."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_server.core.model import Event, TextDelta, ToolCall, ToolCallDelta, ToolCallEnd, ToolCallStart
from qwen_server.core.toolcalls import ToolCallParser, new_call_id, parse_complete


def _ids() -> Iterator[str]:
    return (f"call_{i}" for i in itertools.count())


def _parser() -> ToolCallParser:
    ids = _ids()
    return ToolCallParser(lambda: next(ids))


def _steps(*pieces: str) -> list[list[Event]]:
    """Events per feed, then those of finish() as the last entry."""
    parser = _parser()
    return [parser.feed(piece) for piece in pieces] + [parser.finish()]


def _flat(*pieces: str) -> list[Event]:
    return [event for step in _steps(*pieces) for event in step]


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _calls(text: str) -> list[tuple[str, object]]:
    _, calls = parse_complete(text, id_factory=lambda: "call_x")
    return [(c.name, json.loads(c.arguments)) for c in calls]


def _call(name: str, arguments: object) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


# ---- text and the held-back tag prefix ---------------------------------------------------------------------


def test_plain_text_streams_at_once() -> None:
    assert _steps("Hello", " world.") == [[TextDelta("Hello")], [TextDelta(" world.")], []]


def test_a_possible_tag_prefix_is_held_only_while_it_can_still_become_the_tag() -> None:
    assert _steps("Hello <to", "x") == [[TextDelta("Hello")], [TextDelta(" <tox")], []]


def test_each_growing_prefix_is_held_then_released_at_the_first_wrong_character() -> None:
    assert _steps("a<", "t", "o", "o", "l", "_", "c", "a", "l", "L") == [
        [TextDelta("a")],
        *([[]] * 8),
        [TextDelta("<tool_calL")],
        [],
    ]


def test_a_lone_lt_that_cannot_start_the_tag_is_released() -> None:
    assert _steps("a < b", "<<", "x") == [[TextDelta("a < b")], [TextDelta("<")], [TextDelta("<x")], []]


def test_a_held_prefix_is_released_at_the_end() -> None:
    assert _steps("see <tool_ca") == [[TextDelta("see")], [TextDelta(" <tool_ca")]]


def test_trailing_whitespace_is_held_until_more_text_or_the_end() -> None:
    assert _steps("Hi\n", "\n", "there\n") == [
        [TextDelta("Hi")],
        [],
        [TextDelta("\n\nthere")],
        [TextDelta("\n")],
    ]


def test_the_tag_split_across_pieces_is_found() -> None:
    events = _flat("Sure.\n<tool", "_call>\n", '{"name": "f", "arguments": {}}', "\n</tool_", "call>")
    assert events == [
        TextDelta("Sure."),
        ToolCallStart(0, "call_0", "f"),
        ToolCallDelta(0, "{}"),
        ToolCallEnd(0),
    ]


# ---- the call events, as they stream -------------------------------------------------------------------------


def test_start_as_soon_as_name_and_arguments_begin_then_fragments() -> None:
    steps = _steps(
        "Let me check.\n\n<tool_call>\n",
        '{"name": "get_wea',
        'ther", "argu',
        'ments": {"city": "Pa',
        'ris", "days": 3',
        "}}\n</tool_call>",
    )
    assert steps == [
        [TextDelta("Let me check.")],
        [],
        [],
        [ToolCallStart(0, "call_0", "get_weather"), ToolCallDelta(0, '{"city": "Pa')],
        [ToolCallDelta(0, 'ris", "days": ')],  # the number is held until it ends
        [ToolCallDelta(0, "3}"), ToolCallEnd(0)],
        [],
    ]


def test_arguments_before_name_are_sent_once_the_name_is_known() -> None:
    steps = _steps('<tool_call>{"arguments": {"x": 1}, ', '"name": "f"}</tool_call>')
    assert steps == [
        [],
        [ToolCallStart(0, "call_0", "f"), ToolCallDelta(0, '{"x": 1}'), ToolCallEnd(0)],
        [],
    ]


def test_parallel_calls_get_indices_and_no_whitespace_between_them() -> None:
    text = "\n".join(_call(n, {"i": i}) for i, n in enumerate("abc")) + "\n"
    events = _flat(text)
    assert [e for e in events if not isinstance(e, ToolCallDelta)] == [
        ToolCallStart(0, "call_0", "a"),
        ToolCallEnd(0),
        ToolCallStart(1, "call_1", "b"),
        ToolCallEnd(1),
        ToolCallStart(2, "call_2", "c"),
        ToolCallEnd(2),
    ]
    assert _text(events) == ""


def test_text_around_calls_loses_only_the_whitespace_touching_them() -> None:
    text = "Before.\n\n" + _call("a", {}) + "\n\nBetween.\n" + _call("b", {}) + "\n\nAfter.\n"
    parts, calls = parse_complete(text)
    assert parts == ["Before.", "Between.", "After.\n"]
    assert [c.name for c in calls] == ["a", "b"]


def test_parser_records_completed_calls() -> None:
    parser = _parser()
    parser.feed(_call("a", {"x": 1}))
    assert parser.calls == [ToolCall("call_0", "a", '{"x": 1}')]


def test_default_ids_are_call_and_24_alphanumerics() -> None:
    ids = {new_call_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"call_[A-Za-z0-9]{24}", i) for i in ids)
    _, calls = parse_complete(_call("a", {}))
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", calls[0].id)


def test_a_closing_tag_inside_an_argument_string_is_content() -> None:
    code = 'print("</tool_call>")'
    assert _calls(_call("run", {"code": code})) == [("run", {"code": code})]


def test_arguments_are_forwarded_verbatim_when_valid() -> None:
    raw = '{\n  "a": [1, 2],\n  "b": "\\u00e9"\n}'
    _, calls = parse_complete(f'<tool_call>\n{{"name": "f", "arguments": {raw}}}\n</tool_call>')
    assert calls[0].arguments == raw


# ---- accepted variants ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name": "f", "parameters": {"x": 1}}', {"x": 1}),
        ('{"name": "f"}', {}),
        ('{"name": "f", "arguments": null}', {}),
        ('{"name": "f", "arguments": "{\\"x\\": 1}"}', {"x": 1}),
        ('{"name": "f", "arguments": "{\'x\': True}"}', {"x": True}),
        ('{"name": "f", "arguments": ""}', {}),
        ('{"name": "f", "arguments": {"x": 1}, "id": "ignored"}', {"x": 1}),
        ('{"name": "f", "arguments": {"x": 1}, "arguments": {"x": 2}}', {"x": 1}),
        ('{"name": "f", "arguments": {"x": 1}}}', {"x": 1}),  # a stray brace after the JSON
        ('```json\n{"name": "f", "arguments": {"x": 1}}\n```', {"x": 1}),
        ('```\n{"name": "f", "arguments": {"x": 1}}\n```', {"x": 1}),
    ],
)
def test_accepted_variants(body: str, expected: object) -> None:
    assert _calls(f"<tool_call>\n{body}\n</tool_call>") == [("f", expected)]


# ---- repairs -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<tool_call>{"name": "f", "arguments": {"a": 1, "b": [1, 2,],}}</tool_call>', {"a": 1, "b": [1, 2]}),
        ("<tool_call>{'name': 'f', 'arguments': {'a': 'x'}}</tool_call>", {"a": "x"}),
        ('<tool_call>{"name": "f", "arguments": {"a": True, "b": None}}</tool_call>', {"a": True, "b": None}),
        ('<tool_call>{"name": "f", "arguments": {"code": "a\nb"}}</tool_call>', {"code": "a\nb"}),
        ('<tool_call>{"name": "f", "arguments": {"a": 1}</tool_call>', {"a": 1}),  # unclosed brace
        ('<tool_call>{"name": "f", "arguments": {"a": {"b": 1</tool_call>', {"a": {"b": 1}}),
        ('<tool_call>{"name": "f", "arguments": {"a": 1}}', {"a": 1}),  # </tool_call> missing at the end
        ('<tool_call>{"name": "f", "arguments": {"a": 1', {"a": 1}),  # both missing
        ('<tool_call>{"name": "f", "arguments": {"a": 1}}\n</tool_', {"a": 1}),  # cut inside the tag
    ],
)
def test_repairs(text: str, expected: object) -> None:
    assert _calls(text) == [("f", expected)]


def test_unclosed_call_before_the_next_one() -> None:
    text = '<tool_call>{"name": "a", "arguments": {"x": 1}}\n<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    assert _calls(text) == [("a", {"x": 1}), ("b", {})]


def test_a_committed_call_cut_off_mid_string_is_closed_not_retracted() -> None:
    steps = _steps('<tool_call>{"name": "write", "arguments": {"path": "/tmp/a', "b")
    assert steps == [
        [ToolCallStart(0, "call_0", "write"), ToolCallDelta(0, '{"path": "/tmp/a')],
        [ToolCallDelta(0, "b")],
        [ToolCallDelta(0, '"}'), ToolCallEnd(0)],
    ]


def test_a_committed_call_with_junk_is_closed_at_the_last_sound_point() -> None:
    events = _flat('<tool_call>{"name": "f", "arguments": {"a": 1, "b": undefined, "c": 2}}</tool_call>Next')
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"a": 1, "b": None}
    assert events[-2:] == [ToolCallEnd(0), TextDelta("Next")]


def test_a_committed_call_with_a_dangling_key_at_the_end_gets_null() -> None:
    assert _calls('<tool_call>{"name": "f", "arguments": {"a": 1, "b"') == [("f", {"a": 1, "b": None})]


# ---- fallbacks to text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<tool_call>I should call the weather tool.</tool_call>",
        '<tool_call>{"arguments": {"x": 1}}</tool_call>',  # no name
        '<tool_call>{"name": 5, "arguments": {}}</tool_call>',
        '<tool_call>{"name": "", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>',
        '<tool_call>{"name": "f", "arguments": "not json"}</tool_call>',
        '<tool_call>{"name": "f", "arguments": 3}</tool_call>',
        '<tool_call>{"name": "f", "args": {"x": 1}, oops}</tool_call>',
        '<tool_call>{"name": "f",, "arguments": {}}</tool_call>',
        "<tool_call>\n<function=f>\n<parameter=x>1</parameter>\n</function>\n</tool_call>",
        "<tool_call>\n```python\nprint(1)\n```\n</tool_call>",
        '<tool_call>{"name": "get_wea',  # cut inside the name
        '<tool_call>{"name": "f", "argu',  # cut inside a key, before the arguments began
        "<tool_call>[1, 2]</tool_call>",
    ],
)
def test_a_broken_call_is_passed_on_as_its_exact_text(text: str) -> None:
    events = _flat(f"Before. {text} After.")
    assert not [e for e in events if not isinstance(e, TextDelta)]
    assert _text(events) == f"Before. {text} After."


def test_a_broken_call_streams_as_text_once_it_is_known_broken() -> None:
    steps = _steps("<tool_call>\nhm, ", "let me think", "</tool_call> ok")
    assert steps == [
        [TextDelta("<tool_call>\nhm,")],
        [TextDelta(" let me think")],
        [TextDelta("</tool_call> ok")],
        [],
    ]


def test_an_empty_call_vanishes() -> None:
    assert _flat("a <tool_call></tool_call> b") == [TextDelta("a  b")]
    assert _steps("a <tool_call>\n") == [[TextDelta("a")], [TextDelta(" ")]]  # the space was text


def test_a_doubled_opening_tag_is_one_call() -> None:
    assert _calls('<tool_call>\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>') == [("f", {})]


def test_a_call_inside_a_code_fence_is_shown_not_run() -> None:
    fenced = "```xml\n" + _call("f", {"x": 1}) + "\n```"
    parts, calls = parse_complete(fenced)
    assert calls == [] and "".join(parts) == fenced


def test_a_call_inside_a_code_fence_is_run_when_configured() -> None:
    parts, calls = parse_complete("```xml\n" + _call("f", {"x": 1}) + "\n```", fenced_calls=True)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("f", {"x": 1})]
    assert parts == ["```xml", "```"]


def test_content_between_the_json_and_the_closing_tag_is_dropped() -> None:
    events = _flat('<tool_call>{"name": "f", "arguments": {}} trailing words</tool_call>done')
    assert _text(events) == "done"


# ---- lifecycle ----------------------------------------------------------------------------------------------------


def test_finish_is_idempotent_and_feed_after_finish_is_an_error() -> None:
    parser = _parser()
    parser.feed("x <to")
    assert parser.finish() == [TextDelta(" <to")]
    assert parser.finish() == []
    with pytest.raises(RuntimeError):
        parser.feed("more")


def test_empty_pieces_emit_nothing() -> None:
    assert _steps("", "a", "") == [[], [TextDelta("a")], [], []]


def test_parse_complete_splits_text_where_calls_were() -> None:
    text = "A" + _call("f", {}) + "B"
    parts, calls = parse_complete(text, id_factory=lambda: "call_fixed")
    assert parts == ["A", "B"]
    assert calls == [ToolCall("call_fixed", "f", "{}")]


def test_parse_complete_of_plain_text() -> None:
    assert parse_complete("just text") == (["just text"], [])
    assert parse_complete("") == ([], [])


# ---- properties ---------------------------------------------------------------------------------------------------

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_text_chars = st.sampled_from([*"ab <>/_`{}\"'\n ", "<tool", "<tool_c", "</tool_call", "```"])
_plain = st.lists(_text_chars, max_size=8).map("".join)
_arg_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab<>\"'\\\n{}", max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=3), inner, max_size=3)
    ),
    max_leaves=4,
)
_arguments = st.dictionaries(st.text("abc_", min_size=1, max_size=4), _arg_values, max_size=3)


@st.composite
def _call_text(draw: st.DrawFn) -> str:
    name, arguments = draw(_names), draw(_arguments)
    payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    style = draw(st.sampled_from(["plain", "python", "no_close", "fenced", "trailing_comma", "truncated"]))
    if style == "python":
        payload = repr({"name": name, "arguments": arguments})
    elif style == "fenced":
        payload = f"```json\n{payload}\n```"
    elif style == "trailing_comma":
        payload = payload[:-1] + ",}"
    elif style == "truncated":
        payload = payload[: draw(st.integers(0, len(payload)))]
    close = "" if style in ("no_close", "truncated") else "\n</tool_call>"
    return f"<tool_call>\n{payload}{close}"


_outputs = st.lists(_plain | _call_text(), max_size=4).map("\n".join)


def _splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in itertools.pairwise([0, *points, len(text)]) if b > a]


def _summary(events: list[Event]) -> tuple[str, list[tuple[int, str, str]]]:
    """Concatenated text and (index, name, arguments) per call, checking the event order on the way."""
    text: list[str] = []
    calls: list[tuple[int, str, str]] = []
    open_index: int | None = None
    for event in events:
        if isinstance(event, TextDelta):
            assert open_index is None, "text inside a call"
            assert event.text
            text.append(event.text)
        elif isinstance(event, ToolCallStart):
            assert open_index is None
            assert event.index == len(calls)
            open_index = event.index
            calls.append((event.index, event.name, ""))
        elif isinstance(event, ToolCallDelta):
            assert event.index == open_index and event.arguments
            index, name, arguments = calls[-1]
            calls[-1] = (index, name, arguments + event.arguments)
        elif isinstance(event, ToolCallEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None, "a call was never ended"
    for _, _, arguments in calls:
        assert isinstance(json.loads(arguments), dict)
    return "".join(text), calls


def _run(pieces: list[str]) -> tuple[str, list[tuple[int, str, str]]]:
    parser = _parser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return _summary(events + parser.finish())


@settings(max_examples=300)
@given(_outputs, st.lists(st.integers(0, 10_000), max_size=12))
def test_property_any_split_gives_the_same_text_and_calls(output: str, cuts: list[int]) -> None:
    assert _run(_splits(output, cuts)) == _run([output])


@given(_outputs)
def test_property_one_character_at_a_time_gives_the_same_text_and_calls(output: str) -> None:
    assert _run(list(output)) == _run([output])


@given(st.lists(_plain, max_size=6).map("".join), st.lists(st.integers(0, 10_000), max_size=8))
def test_property_text_without_a_call_comes_out_unchanged(text: str, cuts: list[int]) -> None:
    if "<tool_call>" in text:
        return
    assert _run(_splits(text, cuts)) == (text, [])


@given(st.lists(st.tuples(_names, _arguments), min_size=1, max_size=4), st.text(" \n", max_size=3))
def test_property_well_formed_calls_are_read_back_exactly(
    calls: list[tuple[str, dict[str, object]]], sep: str
) -> None:
    output = sep.join(_call(name, arguments) for name, arguments in calls)
    text, parsed = _run(list(output))
    assert text == ""
    assert [(name, json.loads(arguments)) for _, name, arguments in parsed] == calls


_junk = st.lists(st.sampled_from([*"ab <>/_`\"'\n ", "<tool"]), min_size=1, max_size=8).map("".join)


@given(st.lists(_plain | _junk.map(lambda j: f"<tool_call>x{j}</tool_call>"), max_size=5).map("".join))
def test_property_broken_calls_come_out_as_their_exact_text(output: str) -> None:
    if output.count("<tool_call>") != output.count("<tool_call>x"):
        return  # the plain pieces happened to spell an opening tag themselves
    assert _run(list(output)) == (output, [])


@given(st.lists(st.tuples(_names, _arguments), min_size=1, max_size=3), st.data())
def test_property_a_cut_anywhere_keeps_the_calls_before_it(
    calls: list[tuple[str, dict[str, object]]], data: st.DataObject
) -> None:
    blocks = [_call(name, arguments) for name, arguments in calls]
    output = "\n".join(blocks)
    cut = data.draw(st.integers(0, len(output)))
    _, parsed = _run(list(output[:cut]))  # (_summary checks every call is well-formed)
    complete = sum(1 for i in range(len(blocks)) if len("\n".join(blocks[: i + 1])) <= cut)
    assert len(parsed) >= complete
    assert [(n, json.loads(a)) for _, n, a in parsed[:complete]] == calls[:complete]
