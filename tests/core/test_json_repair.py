"""The lenient-to-strict JSON transcoder: every repair, every refusal, and streaming without retraction."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_server.core.json_repair import JsonRepairer, repair_json


def _feed_pieces(pieces: list[str]) -> tuple[JsonRepairer, list[str]]:
    """Feed pieces; record `out` after each step (to check nothing already out is ever changed)."""
    repairer = JsonRepairer()
    snapshots = []
    for piece in pieces:
        repairer.feed(piece)
        snapshots.append(repairer.text())
    return repairer, snapshots


# ---- valid JSON passes through unchanged ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '{\n  "a" : [1, 2.5e-3, -0, true, false, null],\n  "b": {}\n}',
        '"just a string"',
        "[]",
        "-12.5E+7",
        '{"esc": "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00", "raw": "é 😀"}',
    ],
)
def test_valid_json_is_returned_unchanged(text: str) -> None:
    assert repair_json(text) == text


def test_surrounding_whitespace_is_stripped() -> None:
    assert repair_json('  \n{"a": 1}\n ') == '{"a": 1}'


def test_valid_json_passes_through_the_transcoder_byte_for_byte() -> None:
    text = '{ "a" :[ 1 ,2 ] , "s":"x\\ty" }'
    repairer = JsonRepairer()
    assert repairer.feed(text) == len(text)
    assert repairer.done and not repairer.repaired
    assert repairer.text() == text


# ---- repairs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # single quotes
        ("{'a': 'b'}", '{"a": "b"}'),
        ("{'say': 'he said \"hi\"'}", '{"say": "he said \\"hi\\""}'),
        ("{'it\\'s': 'ok'}", '{"it\'s": "ok"}'),
        ("{\"mixed\": 'single'}", '{"mixed": "single"}'),
        ('{"a": "don\\\'t"}', '{"a": "don\'t"}'),
        # Python literals
        ("{'t': True, 'f': False, 'n': None}", '{"t": true, "f": false, "n": null}'),
        ("[True, None]", "[true, null]"),
        # trailing commas (the whitespace after them is kept)
        ('{"a": 1,}', '{"a": 1}'),
        ('{"a": 1, }', '{"a": 1 }'),
        ("[1, 2,\n]", "[1, 2\n]"),
        ('{"a": [1,], "b": {"c": 2,},}', '{"a": [1], "b": {"c": 2}}'),
        # missing commas
        ('{"a": 1 "b": 2}', '{"a": 1 ,"b": 2}'),
        ("[1 2]", "[1 ,2]"),
        ('[{"a": 1}{"b": 2}]', '[{"a": 1},{"b": 2}]'),
        # raw control characters and invalid escapes inside strings
        ('{"code": "line1\nline2\ttab"}', '{"code": "line1\\nline2\\ttab"}'),
        ('{"c": "bell\x07"}', '{"c": "bell\\u0007"}'),
        ('{"re": "\\d+\\s"}', '{"re": "\\\\d+\\\\s"}'),
        ('{"u": "\\uZZ"}', '{"u": "\\\\uZZ"}'),
        # containers left open at the end
        ('{"a": 1', '{"a": 1}'),
        ('{"a": {"b": [1, 2', '{"a": {"b": [1, 2]}}'),
        ('{"a": 1,', '{"a": 1}'),
        ('{"a": [', '{"a": []}'),
        ("{", "{}"),
        ('{"a": true', '{"a": true}'),
        ('{"n": 12', '{"n": 12}'),
        ('{"a": 1, "b": [1, 2], "c": {"d": "x"', '{"a": 1, "b": [1, 2], "c": {"d": "x"}}'),
    ],
)
def test_repairs(text: str, expected: str) -> None:
    repaired = repair_json(text)
    assert repaired == expected
    json.loads(repaired)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "{a: 1}",  # unquoted key
        '{"a": undefined}',
        '{"a": NaN}',
        '{"a": Infinity}',
        "NaN",
        '{"a": 01}',
        '{"a": .5}',
        '{"a": 1.}',
        '{"a": [1}',  # mismatched closer
        '{"a": 1]',
        "[1,,2]",
        '{"a": }',
        '{"a" 1}',
        '{"a": 1}}',  # trailing junk
        '{"a": 1} x',
        "}",
        '{"a": "cut off',  # a cut-off string is not guessed at
        '{"a": "cut off\\',
        '{"a"',  # dangling key
        '{"a":',  # dangling colon
        '{"a": tr',  # partial literal
        "{'it's': 1}",  # an apostrophe inside a single-quoted string is ambiguous
        "<tool_call>",
    ],
)
def test_refuses_what_is_ambiguous(text: str) -> None:
    assert repair_json(text) is None


def test_repaired_flag_reports_changes() -> None:
    clean, dirty = JsonRepairer(), JsonRepairer()
    clean.feed('{"a": 1}')
    dirty.feed("{'a': 1}")
    assert not clean.repaired
    assert dirty.repaired


# ---- stopping where a caller must decide -------------------------------------------------------------------


def test_feed_stops_just_past_the_value() -> None:
    repairer = JsonRepairer()
    text = '{"a": 1}\n</tool_call>'
    assert repairer.feed(text) == text.index("}") + 1
    assert repairer.done


def test_feed_stops_at_a_foreign_character_without_failing() -> None:
    repairer = JsonRepairer()
    text = '{"a": [1, 2]</tool_call>'
    pos = repairer.feed(text)
    assert text[pos:] == "</tool_call>"
    assert not repairer.failed and not repairer.done
    assert repairer.finish()
    assert repairer.text() == '{"a": [1, 2]}'


def test_a_foreign_character_inside_a_string_is_content() -> None:
    repairer = JsonRepairer()
    text = '{"a": "</tool_call>"}'
    assert repairer.feed(text) == len(text)
    assert repairer.done


def test_rejected_token_sets_failed_and_finish_without_force_refuses() -> None:
    repairer = JsonRepairer()
    text = '{"a": 1,, "b": 2}'
    pos = repairer.feed(text)
    assert repairer.failed
    assert text[pos] == ","
    assert not repairer.finish()


def test_finish_on_nothing_is_false_even_forced() -> None:
    repairer = JsonRepairer()
    repairer.feed("   ")
    assert not repairer.started
    assert not repairer.finish(force=True)


# ---- forced closing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": "cut', '{"a": "cut"}'),
        ('{"a": "cut\\', '{"a": "cut"}'),
        ('{"a": "cut\\u00', '{"a": "cut"}'),
        ('{"a"', '{"a": null}'),
        ('{"a": "x", "b', '{"a": "x", "b": null}'),
        ('{"a":', '{"a":null}'),
        ('{"a": Tr', '{"a": null}'),
        ('{"a": undefined', '{"a": null}'),
        ('{"a": [1, {"b": ', '{"a": [1, {"b": null}]}'),
        ('{"a": [1,', '{"a": [1]}'),
        ('{"a": [1}', '{"a": [1]}'),
        ("[1, undefined", "[1, null]"),
        ("[1, undefined]", "[1, null]"),
        ("[[null, n", "[[null, null]]"),
    ],
)
def test_forced_finish_closes_at_the_last_sound_point(text: str, expected: str) -> None:
    repairer = JsonRepairer()
    repairer.feed(text)
    assert repairer.finish(force=True)
    assert repairer.text() == expected
    json.loads(repairer.text())


def test_forced_finish_after_a_rejected_word_keeps_earlier_members() -> None:
    repairer = JsonRepairer()
    repairer.feed('{"a": 1, "b": undefined, "c": 3}')
    assert repairer.failed
    assert repairer.finish(force=True)
    assert json.loads(repairer.text()) == {"a": 1, "b": None}


# ---- held back, never retracted --------------------------------------------------------------------------------


def test_a_comma_is_held_until_it_is_known_not_to_be_trailing() -> None:
    _repairer, snapshots = _feed_pieces(['{"a": 1,', " ", "}"])
    assert snapshots == ['{"a": 1', '{"a": 1', '{"a": 1 }']


def test_a_bare_word_is_held_until_it_ends() -> None:
    _, snapshots = _feed_pieces(['{"a": Tr', "ue", "}"])
    assert snapshots == ['{"a": ', '{"a": ', '{"a": true}']


def test_string_content_streams_but_half_an_escape_is_held() -> None:
    _, snapshots = _feed_pieces(['{"a": "ab', "\\", "n", "\\u00", "e9", '"}'])
    assert snapshots == [
        '{"a": "ab',
        '{"a": "ab',
        '{"a": "ab\\n',
        '{"a": "ab\\n',
        '{"a": "ab\\n\\u00e9',
        '{"a": "ab\\n\\u00e9"}',
    ]


# ---- members of the top-level object -------------------------------------------------------------------------------


def test_members_are_located_and_decoded() -> None:
    repairer = JsonRepairer(track_members=True)
    repairer.feed('{\'name\': \'f\', "arguments": {"x": [1]}, "n": None, "name": "dup"}')
    members = repairer.members
    assert list(members) == ["name", "arguments", "n"]
    assert members["name"].kind == "string" and members["name"].value == "f"
    assert members["n"].kind == "word" and members["n"].value == "null"
    arguments = members["arguments"]
    assert arguments.kind == "object" and arguments.end is not None
    assert "".join(repairer.out[arguments.start : arguments.end]) == '{"x": [1]}'


def test_members_are_not_tracked_unless_asked() -> None:
    repairer = JsonRepairer()
    repairer.feed('{"name": "f"}')
    assert repairer.members == {}


def test_an_open_member_has_no_end_yet() -> None:
    repairer = JsonRepairer(track_members=True)
    repairer.feed('{"arguments": {"x": 1')
    assert repairer.members["arguments"].end is None


# ---- properties ----------------------------------------------------------------------------------------------------

# printable characters only: `repr` escapes the others as `\xNN`, which JSON does not have
_printable = st.text(st.characters(categories=["L", "N", "P", "S"], include_characters=" "), max_size=12)
_scalars = st.none() | st.booleans() | st.integers() | _printable
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_printable, inner, max_size=4),
    max_leaves=12,
)
_objects = st.dictionaries(_printable, _values, max_size=5)


def _splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@given(_values, st.booleans())
def test_property_strict_json_is_an_identity(value: Any, indent: bool) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2 if indent else None)
    assert repair_json(text) == text


@given(_values)
def test_property_python_repr_is_repaired_to_the_same_value(value: Any) -> None:
    repaired = repair_json(repr(value))
    assert repaired is not None
    assert json.loads(repaired) == value


@given(_objects, st.data())
def test_property_any_prefix_force_closes_to_valid_json(value: dict[str, Any], data: st.DataObject) -> None:
    text = json.dumps(value, ensure_ascii=False)
    prefix = text[: data.draw(st.integers(0, len(text)))]
    repairer = JsonRepairer()
    repairer.feed(prefix)
    if repairer.finish(force=True):
        json.loads(repairer.text())
    else:
        assert not prefix.strip()


@settings(max_examples=200)
@given(_values, st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_property_chunking_never_changes_the_output_nor_retracts(
    value: Any, cuts: list[int], as_repr: bool
) -> None:
    text = repr(value) if as_repr else json.dumps(value, ensure_ascii=False)
    whole = JsonRepairer()
    whole.feed(text)
    whole.finish()
    repairer, snapshots = _feed_pieces(_splits(text, cuts))
    for earlier, later in itertools.pairwise(snapshots):
        assert later.startswith(earlier)
    repairer.finish()
    assert repairer.text() == whole.text()
    assert json.loads(repairer.text()) == value
