"""Tool-call blocks cut out of streamed text when function calling is off, however the text is split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_server.core.call_markup import CallMarkupStripper
from qwen_server.core.model import TextDelta

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "X"}}\n</tool_call>'


def strip(*pieces: str) -> tuple[str, list[str]]:
    """The whole text out, and the text of each piece's events (to see what streamed when)."""
    stripper = CallMarkupStripper()
    outs = [stripper.feed(piece) for piece in pieces] + [stripper.finish()]
    texts = ["".join(e.text for e in out if isinstance(e, TextDelta)) for out in outs]
    return "".join(texts), texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no markup here", "no markup here"),
        ("literal " + CALL, "literal"),
        ("Sure.\n" + CALL + "\nDone.", "Sure.\nDone."),
        (CALL + CALL + "after", "after"),
        ("a " + CALL + " b " + CALL + " c", "a b c"),
        ('cut off <tool_call>{"name": "x"', "cut off"),
        ("stray </tool_call> closing", "stray closing"),
        ("a < b and <tool not a tag", "a < b and <tool not a tag"),
        ("trailing space kept  ", "trailing space kept  "),
        ("ends in a partial <tool_ca", "ends in a partial <tool_ca"),
    ],
)
def test_blocks_are_removed(text: str, expected: str) -> None:
    assert strip(text)[0] == expected


def test_text_streams_at_once_and_a_split_tag_is_held_only_while_it_may_be_one() -> None:
    _, texts = strip("Hello <", "tool_", "call>{}</tool", "_call> world")
    assert texts[0] == "Hello"
    assert texts[1] == "" and texts[2] == ""
    assert texts[3] == " world"
    _, texts = strip("x <", "b> y")
    assert texts == ["x", " <b> y", ""]


@given(st.lists(st.integers(min_value=0, max_value=120), max_size=6))
def test_any_split_gives_the_same_text(cuts: list[int]) -> None:
    text = "Intro, " + CALL + " middle </tool_call> and <b>bold</b> " + CALL
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    assert strip(*pieces)[0] == "Intro, middle and <b>bold</b>"
