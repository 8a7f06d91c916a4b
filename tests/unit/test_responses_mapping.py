"""The Responses API mapping and its event translator, pure: items in, events out."""

from __future__ import annotations

from typing import Any

import pytest

from qwen_server.api.responses.events import ResponseEvents
from qwen_server.api.responses.mapping import normalize, to_neutral
from qwen_server.api.responses.schemas import ResponsesRequest
from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import (
    Citation,
    Finish,
    MediaPart,
    SearchCall,
    SearchResults,
    SearchSource,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)


def request(**body: Any) -> Any:
    parsed = ResponsesRequest.model_validate({"model": "qwen3-max", **body})
    return to_neutral(parsed, normalize(parsed.input), tenant="t", session_id=None)


def test_items_become_messages_with_calls_and_results() -> None:
    neutral = request(
        instructions="sys",
        input=[
            {"role": "user", "content": "q"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        ],
        tools=[{"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]}],
        reasoning={"effort": "low"},
        max_output_tokens=50,
    )
    assert [m.role for m in neutral.messages] == ["system", "user", "assistant", "tool", "system"]
    assert neutral.messages[2].tool_calls[0].name == "f" and neutral.messages[3].tool_call_id == "c1"
    assert [t.name for t in neutral.tools] == ["g"]
    assert neutral.thinking and neutral.max_tokens == 50
    assert "chat_type" not in neutral.extra


def test_files_are_documents_and_web_search_switches_the_mode() -> None:
    neutral = request(
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_file",
                        "filename": "a.txt",
                        "file_data": "data:text/plain;base64,aGVsbG8=",
                    },
                    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERg=="},
                ],
            }
        ],
        tools=[{"type": "web_search"}],
    )
    first, second = neutral.messages[0].parts
    assert isinstance(first, MediaPart) and first.data == b"hello" and first.filename == "a.txt"
    assert isinstance(second, MediaPart) and second.data == b"%PDF" and second.media_type == "application/pdf"
    assert neutral.extra["chat_type"] == "search"
    cached = request(input="x", tools=[{"type": "web_search", "external_web_access": False}])
    assert "chat_type" not in cached.extra


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"role": "tool", "content": "x"}]}, "input.0.role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input.0.call_id"),
        ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}}, "text.format.schema"),
        ({"input": []}, "input"),
    ],
)
def test_refusals_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        request(**body)
    assert info.value.param == param


def test_event_sequence_and_final_object() -> None:
    translator = ResponseEvents({"id": "resp_1", "model": "m"})
    source = SearchSource("https://a.example/x", "A")
    stream = [
        *translator.start(),
        *translator.feed(ThinkingDelta("hmm")),
        *translator.feed(SearchCall("s1", ["q"])),
        *translator.feed(SearchResults("s1", [source])),
        *translator.feed(TextDelta("fact")),
        *translator.feed(Citation(1, source)),
        *translator.feed(ToolCallStart(0, "call_1", "f")),
        *translator.feed(ToolCallDelta(0, '{"a"')),
        *translator.feed(ToolCallDelta(0, ": 1}")),
        *translator.feed(ToolCallEnd(0)),
        *translator.feed(Usage(3, 4)),
        *translator.feed(Finish("tool_calls")),
        *translator.end(),
    ]
    assert [e["sequence_number"] for e in stream] == list(range(len(stream)))
    added = [e["item"]["type"] for e in stream if e["type"] == "response.output_item.added"]
    done = [e["item"]["type"] for e in stream if e["type"] == "response.output_item.done"]
    assert added == done == ["reasoning", "web_search_call", "message", "function_call"]
    final = stream[-1]["response"]
    assert stream[-1]["type"] == "response.completed" and final["status"] == "completed"
    text = final["output"][2]["content"][0]
    cite = text["annotations"][0]
    assert text["text"][cite["start_index"] : cite["end_index"]] == " ([A](https://a.example/x))"
    assert final["output"][3]["arguments"] == '{"a": 1}' and final["output"][3]["call_id"] == "call_1"
    assert final["output"][1]["action"] == {
        "type": "search",
        "query": "q",
        "sources": [{"type": "url", "url": "https://a.example/x"}],
    }
    assert final["usage"]["total_tokens"] == 7


def test_length_and_content_filter_are_incomplete() -> None:
    for reason, expected in (("length", "max_output_tokens"), ("content_filter", "content_filter")):
        translator = ResponseEvents({"id": "r", "model": "m"})
        translator.feed(TextDelta("x"))
        translator.feed(Finish(reason))  # type: ignore[arg-type]
        last = translator.end()[-1]
        assert last["type"] == "response.incomplete"
        assert last["response"]["incomplete_details"] == {"reason": expected}


def test_mode_suffixes_and_aliases_resolve() -> None:
    catalog = ModelCatalog()
    assert catalog.resolve("qwen3-max-search").upstream == "qwen3-max"
    assert catalog.resolve("qwen3-max-search").chat_type == "search"
    assert catalog.resolve("qwen-deep-research").chat_type == "deep_research"
    assert catalog.resolve("qwen-coder-web-dev").upstream == "qwen3-coder-plus"
    assert catalog.is_alias("qwen-coder-artifacts") and not catalog.is_alias("unknown-search")
    assert catalog.resolve("qwen3-max").chat_type is None
