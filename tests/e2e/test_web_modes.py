"""The web's search, deep-research, artifacts and code modes through the openai SDK (chat completions and
the Responses API), against the gateway and the emulator as processes."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.processes import Service, directive, emulator_accounts, start_gateway


def check_annotations(content: str, annotations: list[dict[str, object]]) -> None:
    """Each url_citation covers exactly the link to its URL inside the content."""
    assert annotations
    for annotation in annotations:
        assert annotation["type"] == "url_citation"
        cited = annotation["url_citation"]
        assert isinstance(cited, dict)
        span = content[cited["start_index"] : cited["end_index"]]
        assert f"]({cited['url']})" in span and span.strip().startswith("([")


def test_web_search_options_cite_their_sources(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": "latest rust release"}],
        web_search_options={},
    )
    message = completion.choices[0].message
    content = message.content or ""
    assert content.startswith("latest rust release ([source1.example.org](https://source1.example.org/")
    assert "[[" not in content
    annotations = [a.model_dump() for a in message.annotations or []]
    assert len(annotations) == 2
    check_annotations(content, annotations)
    assert annotations[0]["url_citation"]["title"] == "Source 1 about latest rust release"


def test_search_alias_streams_delta_annotations(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max-search", messages=[{"role": "user", "content": "python news"}], stream=True
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    annotations = [
        a
        for c in chunks
        if c.choices
        for a in (c.choices[0].delta.model_extra or {}).get("annotations") or []
    ]
    assert len(annotations) == 2
    check_annotations(content, annotations)


def test_plain_model_does_not_search(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "no search [[1]] here"}]
    )
    assert completion.choices[0].message.content == "no search [[1]] here"
    assert not completion.choices[0].message.annotations


def test_deep_research_shows_progress_as_reasoning_and_keeps_sources(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="qwen-deep-research",
            messages=[{"role": "user", "content": "battery chemistry"}],
            stream=True,
        )
    )
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert "Planning the research" in reasoning and "Read 2 sources" in reasoning
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.startswith("# Report")
    annotations = [
        a
        for c in chunks
        if c.choices
        for a in (c.choices[0].delta.model_extra or {}).get("annotations") or []
    ]
    assert [a["url_citation"]["url"].split("/")[2] for a in annotations] == [
        "source1.example.org",
        "source2.example.org",
        "source3.example.org",
    ]
    check_annotations(content, annotations)


@pytest.mark.parametrize("model", ["qwen-artifacts", "qwen-web-dev"])
def test_artifacts_and_web_dev_return_code_as_text(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a todo app"}]
    )
    content = completion.choices[0].message.content or ""
    assert content.startswith("```html\n<!DOCTYPE html>") and "<h1>a todo app</h1>" in content


def test_code_interpreter_is_dropped_without_code_mode(client: openai.OpenAI) -> None:
    prompt = "compute" + directive(code="print(6 * 7)", code_output="42", reply="The answer is 42.")
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": prompt}]
    )
    assert completion.choices[0].message.content == "The answer is 42."


@pytest.fixture(scope="module")
def code_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway({"SPECIAL_CODE_MODE": "true"}, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def test_code_mode_surfaces_the_code_and_its_output(code_gateway: Service) -> None:
    client = openai.OpenAI(base_url=f"{code_gateway.url}/v1", api_key="k", max_retries=0)
    prompt = "compute" + directive(code="print(6 * 7)", code_output="42", reply="The answer is 42.")
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": prompt}]
    )
    assert completion.choices[0].message.content == "```python\nprint(6 * 7)\n```\n\n42\n\nThe answer is 42."


def test_responses_web_search_tool(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="qwen3-max", input="weather in Lima", tools=[{"type": "web_search"}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    for kind in (
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_text.annotation.added",
    ):
        assert kind in types, kind
    assert final.output[0].type == "web_search_call"
    message = final.output[-1]
    assert message.type == "message"
    text = message.content[0].text
    annotations = message.content[0].annotations
    assert len(annotations) == 2
    for annotation in annotations:
        assert annotation.type == "url_citation"
        assert text[annotation.start_index : annotation.end_index].endswith(f"]({annotation.url}))")


def test_mode_aliases_are_listed(client: openai.OpenAI) -> None:
    listed = {m.id for m in client.models.list()}
    assert {"qwen-search", "qwen-deep-research", "qwen-artifacts", "qwen-web-dev"} <= listed


def test_responses_deep_research_summary_and_sources(client: openai.OpenAI) -> None:
    response = client.responses.create(model="qwen-deep-research", input="ocean currents")
    kinds = [item.type for item in response.output]
    assert kinds[0] == "reasoning" and kinds.count("web_search_call") == 2 and kinds[-1] == "message"
    reasoning = response.output[0]
    assert reasoning.type == "reasoning" and "Planning the research" in reasoning.summary[0].text
    message = response.output[-1]
    assert message.type == "message"
    assert len(message.content[0].annotations) == 3
