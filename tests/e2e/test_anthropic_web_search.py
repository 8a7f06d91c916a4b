"""Anthropic's web search server tool through the anthropic SDK and raw SSE (grammar-checked), against the
gateway and the emulator as processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.anthropic_grammar import check_stream
from tests.processes import Service, directive, emulator_accounts, start_gateway

SEARCH: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search"}


@pytest.fixture
def claude(gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="any-key", max_retries=0)


def post(gateway: Service, **body: Any) -> httpx.Response:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, **body}
    return httpx.post(
        f"{gateway.url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}, timeout=60
    )


def test_search_answers_with_server_tool_blocks_and_citations(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[SEARCH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "tallest building"}],
    )
    kinds = [b.type for b in message.content]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"]
    call, result = message.content[0], message.content[1]
    assert call.type == "server_tool_use" and call.id.startswith("srvtoolu_")
    assert call.name == "web_search" and call.input == {"query": "tallest building"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == call.id
    assert isinstance(result.content, list)
    assert [r.url for r in result.content] == [
        "https://source1.example.org/tallest-building",
        "https://source2.example.org/tallest-building",
    ]
    assert all(r.encrypted_content and r.page_age == "2026-11-30" for r in result.content)
    texts = [b for b in message.content if b.type == "text"]
    assert "".join(b.text for b in texts) == "tallest building Both sources agree."
    cited = [c for b in texts for c in b.citations or []]
    assert [c.type for c in cited] == ["web_search_result_location"] * 2
    assert cited[0].url == result.content[0].url and cited[0].cited_text == "tallest building"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.stop_reason == "end_turn"


def test_streamed_search_keeps_the_grammar(gateway: Service) -> None:
    response = post(gateway, stream=True, tools=[SEARCH], messages=[{"role": "user", "content": "rust 2024"}])
    assert response.status_code == 200, response.text
    stream = check_stream(response.content)
    assert [b["type"] for b in stream.blocks][:2] == ["server_tool_use", "web_search_tool_result"]
    assert stream.blocks[0]["input"] == {"query": "rust 2024"}
    assert sum(len(b.get("citations", [])) for b in stream.of_type("text")) == 2
    assert stream.usage["server_tool_use"] == {"web_search_requests": 1}
    assert stream.stop_reason == "end_turn"


def test_sdk_stream_accumulates_the_search(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[SEARCH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "moon landing"}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content][:2] == ["server_tool_use", "web_search_tool_result"]
    assert any(b.type == "text" and b.citations for b in final.content)


def test_blocked_domains_remove_results_and_their_citations(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[{**SEARCH, "blocked_domains": ["source1.example.org"]}],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "eclipse dates"}],
    )
    result = message.content[1]
    assert result.type == "web_search_tool_result" and isinstance(result.content, list)
    assert [r.url.split("/")[2] for r in result.content] == ["source2.example.org"]
    cited = [c.url for b in message.content if b.type == "text" for c in b.citations or []]
    assert [url.split("/")[2] for url in cited] == ["source2.example.org"]


def test_allowed_domains_keep_only_those(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[{**SEARCH, "allowed_domains": ["source1.example.org"]}],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "eclipse dates"}],
    )
    result = message.content[1]
    assert result.type == "web_search_tool_result" and isinstance(result.content, list)
    assert [r.url.split("/")[2] for r in result.content] == ["source1.example.org"]


def test_max_uses_beyond_the_limit_is_an_error_result(gateway: Service) -> None:
    # deep research runs two searches; with max_uses 1 the second answers max_uses_exceeded
    response = post(
        gateway,
        model="qwen-deep-research",
        stream=True,
        tools=[{**SEARCH, "max_uses": 1}],
        messages=[{"role": "user", "content": "solid state batteries"}],
    )
    stream = check_stream(response.content)
    results = stream.of_type("web_search_tool_result")
    assert len(results) == 2
    assert isinstance(results[0]["content"], list) and len(results[0]["content"]) == 2
    assert results[1]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "max_uses_exceeded",
    }
    assert stream.usage["server_tool_use"] == {"web_search_requests": 1}
    cited = {c["url"].split("/")[2] for b in stream.of_type("text") for c in b.get("citations", [])}
    assert cited == {"source1.example.org", "source2.example.org"}
    assert stream.thinking, "deep research shows its progress as thinking"


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({**SEARCH, "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "tools.0.blocked_domains"),
        ({**SEARCH, "max_uses": 0}, "tools.0.max_uses"),
        ({**SEARCH, "allowed_domains": ["https://a.com"]}, "tools.0.allowed_domains.0"),
    ],
)
def test_bad_search_options_are_refused_clearly(gateway: Service, tool: dict[str, Any], param: str) -> None:
    response = post(gateway, tools=[tool], messages=[{"role": "user", "content": "x"}])
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert param.rsplit(".", 1)[0] in body["error"]["message"] or param in body["error"]["message"]


def test_a_searched_answer_can_be_sent_back_in_history(claude: anthropic.Anthropic) -> None:
    first = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[SEARCH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "river lengths"}],
    )
    follow_up = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=[SEARCH],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "river lengths"},
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {"role": "user", "content": "and the longest"},
        ],
    )
    assert follow_up.stop_reason == "end_turn"
    assert "".join(b.text for b in follow_up.content if b.type == "text").startswith("and the longest")


@pytest.fixture(scope="module")
def pinging_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway({"ANTHROPIC_PING_INTERVAL": "1"}, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def test_a_long_deep_research_keeps_the_stream_alive(pinging_gateway: Service) -> None:
    """Research phases, then a silent stretch before the report: pings fill it, the grammar holds."""
    prompt = "tidal power" + directive(silence=2.5)
    response = post(
        pinging_gateway,
        model="qwen-deep-research",
        stream=True,
        messages=[{"role": "user", "content": prompt}],
    )
    stream = check_stream(response.content)
    assert stream.thinking and "Read 2 sources" in stream.thinking
    kinds = [b["type"] for b in stream.blocks]
    assert kinds.count("server_tool_use") == 2 and kinds[-1] == "text"
    assert stream.pings - stream.pings_before_first_block >= 2, "pings during the silence after the research"
    assert stream.text.startswith("# Report")
