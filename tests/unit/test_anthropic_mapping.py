"""Anthropic request bodies → the neutral request: blocks, history with tools, options, refusals."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from qwen_server.api.anthropic.mapping import to_neutral
from qwen_server.api.anthropic.schemas import MessagesRequest
from qwen_server.api.validation import validate
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ChatRequest, MediaPart, Message, TextPart, ToolCall

PNG = "iVBORw0KGgo="


def neutral(**body: Any) -> ChatRequest:
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 256)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return to_neutral(validate(MessagesRequest, body), tenant="t", session_id="s")


def refused(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        neutral(**body)
    return info.value


def user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


def test_plain_request_and_sampling_options() -> None:
    request = neutral(
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END", ""],
        metadata={"user_id": "u-1"},
        stream=True,
    )
    assert request.messages == [Message("user", [TextPart("hi")])]
    assert (request.temperature, request.top_p, request.top_k) == (0.3, 0.9, 40)
    assert request.stop == ["END"]
    assert request.max_tokens == 256 and request.stream is True
    assert request.user == "u-1" and request.session_id == "s" and request.tenant == "t"
    assert request.thinking is False and request.thinking_budget is None


def test_system_as_string_or_blocks_leads() -> None:
    assert neutral(system="Be brief.").messages[0] == Message("system", [TextPart("Be brief.")])
    blocks = [
        {"type": "text", "text": "One."},
        {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral"}},
    ]
    assert neutral(system=blocks).messages[0] == Message("system", [TextPart("One."), TextPart("Two.")])
    assert neutral(system="").messages[0].role == "user"


def test_images_become_media_parts_with_bytes_urls_or_file_ids() -> None:
    request = neutral(
        messages=user(
            {"type": "text", "text": "what is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        )
    )
    parts = request.messages[0].parts
    where = "messages.0.content"
    assert parts[1] == MediaPart(
        "image", data=base64.b64decode(PNG), media_type="image/png", param=f"{where}.1.source"
    )
    assert parts[2] == MediaPart("image", url="https://example.com/cat.jpg", param=f"{where}.2.source.url")
    assert parts[3] == MediaPart("image", file_id="file_1", param=f"{where}.3.source.file_id")


def test_unknown_image_source_is_refused_by_name() -> None:
    error = refused(messages=user({"type": "image", "source": {"type": "hologram"}}))
    assert "'hologram'" in error.message and error.param == "messages.0.content.0.source.type"


def test_malformed_base64_is_a_400_naming_the_data() -> None:
    error = refused(
        messages=user(
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%"}}
        )
    )
    assert "base64" in error.message and error.param == "messages.0.content.0.source.data"


def test_text_documents_become_text_with_title_and_context() -> None:
    request = neutral(
        messages=user(
            {
                "type": "document",
                "title": "Notes",
                "context": "from the meeting",
                "source": {"type": "text", "media_type": "text/plain", "data": "Ship on Friday."},
            },
            {
                "type": "document",
                "source": {"type": "content", "content": [{"type": "text", "text": "part A"}]},
            },
            {"type": "document", "source": {"type": "content", "content": "plain content"}},
        )
    )
    assert request.messages[0].text == "Notes\nfrom the meeting\nShip on Friday.part Aplain content"


def test_pdf_url_and_file_documents_become_document_parts_named_by_title() -> None:
    request = neutral(
        messages=user(
            {
                "type": "document",
                "title": "Q3 report/final",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            },
            {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
            {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
        )
    )
    parts = request.messages[0].parts
    assert parts[0] == MediaPart(
        "document",
        data=b"%PDF-",
        media_type="application/pdf",
        filename="Q3 reportfinal",
        param="messages.0.content.0.source",
    )
    assert isinstance(parts[1], MediaPart) and parts[1].url == "https://example.com/a.pdf"
    assert isinstance(parts[2], MediaPart) and parts[2].file_id == "file_1"


def test_tool_history_maps_to_calls_and_tool_messages_in_order() -> None:
    request = neutral(
        messages=[
            {"role": "user", "content": "weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "two calls", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "no data"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ]
    )
    assert [m.role for m in request.messages] == ["user", "assistant", "tool", "tool", "user"]
    assistant = request.messages[1]
    assert assistant.parts == [TextPart("Checking.")]  # thinking is not forwarded
    assert assistant.tool_calls == [
        ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
        ToolCall("toolu_2", "get_weather", '{"city":"Rome"}'),
    ]
    first, second = request.messages[2], request.messages[3]
    assert (first.tool_call_id, first.name, first.text) == ("toolu_1", "get_weather", "18C")
    assert (second.tool_call_id, second.text) == ("toolu_2", "Error: no data")
    assert request.messages[4].text == "and tomorrow?"


def test_text_before_a_tool_result_stays_before_it() -> None:
    request = neutral(
        messages=[
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "note"}, {"type": "tool_result", "tool_use_id": "a"}],
            },
        ]
    )
    assert [m.role for m in request.messages] == ["assistant", "user", "tool"]
    assert request.messages[2].parts == []


def test_tool_blocks_in_the_wrong_turn_are_refused() -> None:
    assert (
        "assistant turns"
        in refused(messages=user({"type": "tool_use", "id": "a", "name": "f", "input": {}})).message
    )
    wrong = [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "x"}]}]
    assert "user turns" in refused(messages=wrong).message


def test_unknown_block_types_are_refused_by_name() -> None:
    error = refused(messages=user({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}))
    assert "'server_tool_use'" in error.message and error.param == "messages.0.content.0.type"
    error = refused(
        messages=user({"type": "tool_result", "tool_use_id": "a", "content": [{"type": "search_result"}]})
    )
    assert "'search_result'" in error.message


def test_only_thinking_in_a_turn_leaves_no_empty_message() -> None:
    request = neutral(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
            {"role": "user", "content": "again"},
        ]
    )
    assert [m.role for m in request.messages] == ["user", "user"]


def test_system_turn_inside_messages_is_kept_in_place() -> None:
    request = neutral(messages=[{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}])
    assert [m.role for m in request.messages] == ["system", "user"]


TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {"name": "get_time", "input_schema": {"type": "object"}, "type": "custom"},
]


def test_tools_become_specs() -> None:
    request = neutral(tools=TOOLS)
    assert [(t.name, t.description) for t in request.tools] == [
        ("get_weather", "Weather by city"),
        ("get_time", ""),
    ]
    assert request.tools[0].parameters["properties"] == {"city": {"type": "string"}}
    assert request.tool_choice is None and request.parallel_tool_calls is True


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", True),
        ({"type": "any"}, "required", True),
        ({"type": "none"}, "none", True),
        ({"type": "tool", "name": "get_time"}, {"name": "get_time"}, True),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", False),
    ],
)
def test_tool_choice_mapping(choice: dict[str, Any], expected: Any, parallel: bool) -> None:
    request = neutral(tools=TOOLS, tool_choice=choice)
    assert request.tool_choice == expected
    assert request.parallel_tool_calls is parallel


def test_tool_choice_errors() -> None:
    assert refused(tools=TOOLS, tool_choice={"type": "tool", "name": "nope"}).param == "tool_choice.name"
    assert refused(tools=TOOLS, tool_choice={"type": "tool"}).param == "tool_choice"
    assert refused(tools=TOOLS, tool_choice={"type": "sometimes"}).param == "tool_choice.type"


def test_server_and_schema_less_tools_are_refused() -> None:
    error = refused(tools=[{"type": "code_execution_20250522", "name": "code_execution"}])
    assert "'code_execution_20250522'" in error.message and error.param == "tools.0.type"
    assert refused(tools=[{"name": "f"}]).param == "tools.0.input_schema"


def test_web_search_tool_runs_the_search_mode() -> None:
    request = neutral(tools=[{"type": "web_search_20260209", "name": "web_search", "max_uses": 2}])
    assert request.tools == [] and request.extra["chat_type"] == "search"
    both = {"allowed_domains": ["a.org"], "blocked_domains": ["b.org"]}
    error = refused(tools=[{"type": "web_search_20250305", "name": "web_search", **both}])
    assert error.param == "tools.0.blocked_domains"


@pytest.mark.parametrize(
    ("thinking", "enabled", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, True, 2048),
        ({"type": "adaptive"}, True, None),
        ({"type": "disabled"}, False, None),
    ],
)
def test_thinking_options(thinking: dict[str, Any], enabled: bool, budget: int | None) -> None:
    request = neutral(thinking=thinking)
    assert (request.thinking, request.thinking_budget) == (enabled, budget)


def test_effort_is_passed_on_and_small_budgets_refused() -> None:
    assert neutral(thinking={"type": "adaptive"}, output_config={"effort": "high"}).extra == {
        "reasoning_effort": "high"
    }
    assert (
        refused(thinking={"type": "enabled", "budget_tokens": 100}).param == "thinking.enabled.budget_tokens"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"temperature": 1.5}, "temperature"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"messages": user({"type": "text"})}, "messages.0.content.0.text.text"),
    ],
)
def test_schema_errors_name_the_parameter(body: dict[str, Any], param: str) -> None:
    data = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **body}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(InvalidRequest) as info:
        validate(MessagesRequest, data)
    assert info.value.param == param
