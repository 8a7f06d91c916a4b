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


def _first_to_end(text: str, stops: list[str]) -> tuple[str, str | None]:
    """The reference: the answer ends where the first stop sequence ends (the longer of two ending there)."""
    for end in range(1, len(text) + 1):
        ending = [s for s in stops if s and text[:end].endswith(s)]
        if ending:
            hit = max(ending, key=len)
            return text[: end - len(hit)], hit
    return text, None


def test_the_stop_that_ends_first_wins_over_one_that_begins_first() -> None:
    # generation would have stopped at "bc" before "abcd" was ever complete
    assert _run(["xabcd"], ["abcd", "bc"]) == ("xa", "bc")
    assert _run(["xab", "cd"], ["abcd", "bc"]) == ("xa", "bc")
    assert _run(["xabc"], ["abc", "bc"]) == ("x", "abc")  # ending together: the longer one


@given(
    st.text(alphabet="abc", max_size=30),
    st.lists(st.text(alphabet="abc", min_size=1, max_size=4), min_size=1, max_size=5),
    st.lists(st.integers(0, 30), max_size=6),
)
def test_overlapping_stops_match_the_reference_whatever_the_split(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    pieces, start = [], 0
    for cut in [*sorted({c for c in cuts if c <= len(text)}), len(text)]:
        pieces.append(text[start:cut])
        start = cut
    assert _run(pieces, stops) == _first_to_end(text, stops)


def test_many_long_stops_hold_back_only_the_longest_possible_prefix() -> None:
    stops = [f"{'a' * 200}{i:04d}" for i in range(1000)]
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed("a" * 64) for _ in range(100))
    assert out == "a" * (6400 - 200) and matcher.matched is None
    assert matcher.flush() == "a" * 200
