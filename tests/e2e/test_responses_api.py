"""The Responses API through the official openai SDK, against the gateway and the emulator as processes."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.processes import Service, directive


def script(emulator: Service, *replies: dict[str, object]) -> None:
    httpx.post(
        f"{emulator.url}/_emulator/script", json={"account": None, "replies": list(replies)}, timeout=5
    ).raise_for_status()


def test_create_with_a_string_input(client: openai.OpenAI) -> None:
    response = client.responses.create(model="qwen3-max", input="hello from the responses api")
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "hello from the responses api"
    message = response.output[-1]
    assert message.type == "message" and message.role == "assistant"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_instructions_and_items_reach_the_upstream(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="qwen3-max",
        instructions="Be brief.",
        input=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "second question"}]},
        ],
        metadata={"run": "42"},
    )
    assert response.output_text == "second question"  # the emulator echoes the last user turn
    assert response.instructions == "Be brief."
    assert response.metadata == {"run": "42"}


def test_stream_emits_the_full_event_sequence(client: openai.OpenAI) -> None:
    with client.responses.stream(model="qwen3-max", input="one two three four") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for kind in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert kind in types, kind
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 4 and "".join(deltas) == "one two three four"
    assert final.output_text == "one two three four"
    assert final.status == "completed"


def test_reasoning_streams_as_a_summary(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="qwen3-max", input="think about this", reasoning={"effort": "high", "summary": "auto"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary.startswith("The user wrote")
    assert final.output[0].type == "reasoning"
    assert final.output[0].summary[0].text == summary
    assert final.output_text == "think about this"
    assert final.reasoning is not None and final.reasoning.effort == "high"


def test_max_output_tokens_makes_it_incomplete(client: openai.OpenAI) -> None:
    with client.responses.stream(model="qwen3-max", input="word " * 200, max_output_tokens=16) as stream:
        events = list(stream)
    assert events[-1].type == "response.incomplete"
    response = events[-1].response
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )


def test_stored_response_retrieve_input_items_and_delete(client: openai.OpenAI) -> None:
    created = client.responses.create(model="qwen3-max", input="keep this one")
    again = client.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == "keep this one"
    items = client.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "keep this one"
    deleted = client.responses.delete(created.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    created = client.responses.create(model="qwen3-max", input="forget me", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="qwen3-max", input="more", previous_response_id=created.id)
    assert caught.value.param == "previous_response_id"  # type: ignore[attr-defined]


def test_responses_belong_to_their_tenant(gateway: Service) -> None:
    mine = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="tenant-a", max_retries=0)
    theirs = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="tenant-b", max_retries=0)
    created = mine.responses.create(model="qwen3-max", input="private")
    assert mine.responses.retrieve(created.id).id == created.id
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(created.id)


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_function_call_round_trip_through_previous_response_id(
    client: openai.OpenAI, emulator: Service
) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    script(emulator, {"reply": "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"})
    first = client.responses.create(model="qwen3-max", input="What is the weather in Paris?", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
    # the follow-up sends only the tool's output; the call comes from the stored conversation (the emulator
    # reports the result of the call it finds there)
    second = client.responses.create(
        model="qwen3-max",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"}],
        tools=[WEATHER],
    )
    assert second.previous_response_id == first.id
    assert second.output_text == "The get_weather tool returned: sunny, 21 C"
    items = client.responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["function_call_output"]


def test_item_reference_resends_a_stored_output_item(client: openai.OpenAI, emulator: Service) -> None:
    """Clients that keep `store` on (the Vercel AI SDK) resend earlier output items by id, not by value."""
    call = {"name": "get_weather", "arguments": {"city": "Lima"}}
    script(emulator, {"reply": "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"})
    first = client.responses.create(model="qwen3-max", input="Weather in Lima?", tools=[WEATHER])
    (made,) = [item for item in first.output if item.type == "function_call"]
    question = {"role": "user", "content": "Weather in Lima?"}
    second = client.responses.create(
        model="qwen3-max",
        input=[
            question,
            {"type": "item_reference", "id": made.id},
            {"type": "function_call_output", "call_id": made.call_id, "output": "sunny"},
        ],
        tools=[WEATHER],
    )
    assert second.status == "completed" and second.output_text == "The get_weather tool returned: sunny"
    items = client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in items] == ["message", "function_call", "function_call_output"]
    resolved = items[1]
    assert resolved.id == made.id and resolved.type == "function_call"
    assert resolved.name == "get_weather" and resolved.call_id == made.call_id
    assert json.loads(resolved.arguments) == {"city": "Lima"}
    other = openai.OpenAI(base_url=str(client.base_url), api_key="another-tenant", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        other.responses.create(model="qwen3-max", input=[question, {"type": "item_reference", "id": made.id}])
    assert caught.value.param == "input.1.id"  # type: ignore[attr-defined]


def test_function_call_streams_its_arguments(client: openai.OpenAI, emulator: Service) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    prompt = "weather?" + directive(reply="<tool_call>\n" + json.dumps(call) + "\n</tool_call>")
    with client.responses.stream(model="qwen3-max", input=prompt, tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and json.loads(done[0].arguments) == {"city": "Oslo"}
    assert final.output[-1].type == "function_call"


def test_json_schema_text_format(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    response = client.responses.create(
        model="qwen3-max",
        input="give n" + directive(reply='{"n": 3}'),
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
    )
    assert json.loads(response.output_text) == {"n": 3}
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "qwen3-max", "input": [{"type": "item_reference", "id": "x"}]}, "input.0.id"),
        ({"model": "qwen3-max", "input": "x", "tools": [{"type": "file_search"}]}, "tools.0.type"),
        (
            {"model": "qwen3-max", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input.0.content.0",
        ),
        ({"model": "qwen3-max", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ],
)
def test_bad_input_is_a_400_naming_the_param(gateway: Service, body: dict[str, object], param: str) -> None:
    response = httpx.post(f"{gateway.url}/v1/responses", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="x")


def test_a_failure_after_the_first_byte_ends_with_response_failed(client: openai.OpenAI) -> None:
    prompt = "one two three four five six" + directive(error="in_stream")
    stream = client.responses.create(model="qwen3-max", input=prompt, stream=True)
    events = list(stream)
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "response.completed" not in [e.type for e in events]
