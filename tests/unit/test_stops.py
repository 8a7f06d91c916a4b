"""Stop sequences enforced on streamed text, whatever the chunking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qwen_server.core.stops import StopMatcher


def _run(pieces: list[str], stops: list[str]) -> tuple[str, str | None]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces) + matcher.flush()
    return out, matcher.matched


def test_holds_back_only_possible_prefixes() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("abc ST") == "abc "
    assert matcher.feed("ART") == "START"
    assert matcher.feed(" x STO") == " x "
    assert matcher.feed("P tail") == ""
    assert matcher.matched == "STOP"


def test_earliest_stop_wins() -> None:
    assert _run(["one two three"], ["three", "two"]) == ("one ", "two")


@given(st.text(alphabet="abXY ", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_any_split_gives_the_same_result(text: str, cuts: list[int]) -> None:
    stops = ["XY", "aXb"]
    pieces, start = [], 0
    for cut in [*sorted({c for c in cuts if c <= len(text)}), len(text)]:
        pieces.append(text[start:cut])
        start = cut
    whole = _run([text], stops)
    assert _run(pieces, stops) == whole
    positions = [text.find(s) for s in stops if s in text]
    expected = text[: min(positions)] if positions else text
    assert whole[0] == expected
