"""The overlap a continuation repeats is removed; new text passes through untouched."""

from __future__ import annotations

import pytest

from qwen_server.core.continuation import INSTRUCTION, OverlapTrimmer, Transcript, continuation_request
from qwen_server.core.errors import UpstreamBadRequest, UpstreamError, UpstreamUnknownError
from qwen_server.core.model import ChatRequest, Message, TextDelta, TextPart, ThinkingDelta, ToolCallStart


def trim(partial: str, pieces: list[str]) -> str:
    trimmer = OverlapTrimmer(partial)
    return "".join(trimmer.feed(p) for p in pieces) + trimmer.close()


@pytest.mark.parametrize(
    ("partial", "pieces", "rest"),
    [
        ("The quick brown fo", ["brown fox", " jumps"], "x jumps"),  # repeats its last words
        ("The quick brown fo", ["x jumps"], "x jumps"),  # continues exactly
        ("Hello", ["Hello world"], " world"),  # the whole short partial repeated
        (
            "a long answer that was cut",
            ["a long ", "answer that was cut", " short"],
            " short",
        ),  # started over
        ("It is", [" a"], " a"),  # too short to call a repeat
        ("x" * 10, [], ""),  # nothing came
    ],
)
def test_overlap_is_removed(partial: str, pieces: list[str], rest: str) -> None:
    assert trim(partial, pieces) == rest


def test_text_is_held_only_until_a_window_has_arrived() -> None:
    trimmer = OverlapTrimmer("word " * 200)
    assert trimmer.feed("new") == ""
    assert trimmer.feed(" text" * 100).startswith("new text")


def test_what_is_continued() -> None:
    transcript = Transcript()
    assert not transcript.can_continue(UpstreamError("x"))  # nothing was sent yet: plain failover
    transcript.note(ThinkingDelta("hmm"))
    transcript.note(TextDelta("Hel"))
    assert transcript.can_continue(UpstreamError("dropped"))
    assert not transcript.can_continue(UpstreamBadRequest("the request itself"))
    assert transcript.can_continue(UpstreamUnknownError("a code nobody mapped, after the answer started"))
    transcript.note(ToolCallStart(0, "call_1", "f"))
    assert not transcript.can_continue(UpstreamError("dropped"))  # a native call in flight


def test_the_continuation_request_carries_the_partial_answer() -> None:
    original = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], thinking=True)
    request = continuation_request(original, "Hel")
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[1].text == "Hel" and request.messages[2].text == INSTRUCTION
    assert request.thinking is False and original.thinking is True
    assert continuation_request(original, "").messages == original.messages
