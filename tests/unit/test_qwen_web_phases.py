"""The web stream's extra phases, parsed from the emulator's own wire lines and from hand-written shapes."""

from __future__ import annotations

import json
from typing import Any

from qwen_server.core.model import Citation, Event, SearchCall, SearchResults, TextDelta, ThinkingDelta
from qwen_server.emulator.phases import delta_line, plan_mode
from qwen_server.providers.qwen_web import wire
from qwen_server.providers.qwen_web.phases import PhaseParser


def feed(state: wire.StreamState, *deltas: dict[str, Any]) -> list[Event]:
    events: list[Event] = []
    for delta in deltas:
        line = delta_line(delta, "r1").decode().removeprefix("data: ").strip()
        events += wire.parse_event(json.loads(line), state)
    return events


def answer(text: str, status: str = "typing") -> dict[str, Any]:
    return {"role": "assistant", "content": text, "phase": "answer", "status": status}


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_search_phase_call_result_and_cited_answer() -> None:
    plan = plan_mode("search", "who won", None, None)
    assert plan is not None
    state = wire.StreamState()
    events = feed(state, *plan.deltas)
    calls = [e for e in events if isinstance(e, SearchCall)]
    results = [e for e in events if isinstance(e, SearchResults)]
    assert len(calls) == 1 and calls[0].queries == ["who won"]
    assert len(results) == 1 and [s.hostname for s in results[0].sources] == [
        "source1.example.org",
        "source2.example.org",
    ]
    # a marker split across chunks is held back until it is whole
    events = feed(
        state, answer("Team A won[["), answer("1]] and more[[2"), answer("]]."), answer("", "finished")
    )
    assert text_of(events) == "Team A won and more."
    cites = [e for e in events if isinstance(e, Citation)]
    assert [c.number for c in cites] == [1, 2]
    assert cites[0].source.url == "https://source1.example.org/who-won"
    order = [type(e).__name__ for e in events]
    assert order == ["TextDelta", "Citation", "TextDelta", "Citation", "TextDelta"]


def test_older_web_search_info_shape_and_out_of_range_markers() -> None:
    state = wire.StreamState()
    docs = [{"url": "https://a.example/x", "title": "A", "hostname": "a.example"}]
    events = feed(
        state,
        {
            "role": "assistant",
            "content": "",
            "name": "web_search",
            "status": "finished",
            "extra": {"web_search_info": docs},
        },
        answer("fact[[1]] and [[7]] stays"),
        answer("", "finished"),
    )
    assert [type(e).__name__ for e in events][:2] == ["SearchCall", "SearchResults"]
    assert text_of(events) == "fact and [[7]] stays"
    assert [e.number for e in events if isinstance(e, Citation)] == [1]


def test_without_sources_markers_are_plain_text() -> None:
    state = wire.StreamState()
    assert text_of(feed(state, answer("a[[1]]b"))) == "a[[1]]b"


def test_thinking_summary_code_and_unknown_phases() -> None:
    plan = plan_mode("deep_research", "topic", "print(2 + 2)", "4")
    assert plan is not None
    quiet = wire.StreamState()
    events = feed(
        quiet, *plan.deltas, {"role": "assistant", "content": "x", "phase": "brand_new", "status": "typing"}
    )
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert "Planning the research" in thinking and "Break down: topic" in thinking
    assert "Read 2 sources" not in thinking, "progress is thinking only in deep-research mode"
    assert text_of(events) == "", "code mode off drops the code_interpreter phase"
    assert len([e for e in events if isinstance(e, SearchResults)]) == 2

    loud = wire.StreamState(phases=PhaseParser(code_mode=True, progress_as_thinking=True))
    events = feed(loud, *plan.deltas)
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert "Read 2 sources" in thinking
    assert text_of(events) == "```python\nprint(2 + 2)\n```\n\n4\n\n"
    assert len(loud.phases.sources) == 3


def test_a_citation_follows_the_text_the_stop_matcher_held() -> None:
    from qwen_server.core.model import ChatRequest, Message, SearchSource, TextPart
    from qwen_server.core.output import OutputShaper

    shaper = OutputShaper(ChatRequest("m", [Message("user", [TextPart("q")])], stop=["zz"]))
    source = SearchSource("https://a.example/")
    out = (
        shaper.feed(TextDelta("claim z")) + shaper.feed(Citation(1, source)) + shaper.feed(TextDelta(" more"))
    )
    out += shaper.close()
    at = next(i for i, e in enumerate(out) if isinstance(e, Citation))
    assert text_of(out[:at]) == "claim z" and text_of(out[at:]) == " more"


def test_answer_deltas_with_an_empty_name_are_still_the_answer() -> None:
    state = wire.StreamState()
    events = feed(state, {**answer("plain text"), "name": ""}, {**answer("more", "typing"), "name": None})
    assert text_of(events) == "plain textmore"
