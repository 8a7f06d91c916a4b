"""The demo as a newcomer runs it: `qwen-server serve --emulate --port N` as a process (its own emulator child,
worker processes as by default), then the usual clients with natural prompts and no scripting.

The emulator answers like a model: JSON valid against the request's schema, a tool call when the request asks
for what a tool does, a report of tool results, text for a plain greeting. Aliases route by what the request
needs (an image goes to a vision model, thinking to a model that thinks); embeddings work through the emulated
DashScope account; the printed emulator address takes scripted replies.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.e2e.ai_sdk_support import ai_sdk, install_script, needs_ai_sdk
from tests.processes import Service, free_port, wait_http

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def demo() -> Iterator[Service]:
    """`serve --emulate` where accounts are configured (a variable and a file): it sets them aside."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="demo-"))
    (workdir / "qwen_accounts.json").write_text(json.dumps([{"email": "me@example.com", "password": "p"}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "SCHED_", "STORE_"))}
    env.update(PYTHONUNBUFFERED="1", QWEN_ACCOUNTS=json.dumps([{"token": "t1"}, {"token": "t2"}]))
    log = Path(tempfile.mkstemp(prefix="demo-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "qwen_server.cli", "serve", "--emulate", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = Service(process, port, log)
    try:
        wait_http(f"{service.url}/health", process, timeout=60)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    yield service
    service.stop()


@pytest.fixture(scope="module")
def emulator_url(demo: Service) -> str:
    found = re.search(r"emulator: (http://127\.0\.0\.1:\d+)", demo.log())
    assert found, demo.log()
    return found.group(1)


@pytest.fixture
def oai(demo: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{demo.url}/v1", api_key="anything", max_retries=0)


@pytest.fixture
def claude(demo: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=demo.url, api_key="anything", max_retries=0)


def test_serve_emulate_names_what_it_replaces_and_prints_the_emulator(demo: Service, emulator_url: str) -> None:
    log = demo.log()
    assert "EMULATED UPSTREAM" in log
    assert "replace the configured ones: QWEN_ACCOUNTS (2 accounts), qwen_accounts.json" in log
    assert httpx.get(f"{emulator_url}/_emulator/health", timeout=5).json()["status"] == "ok"


def test_the_printed_emulator_takes_scripted_replies(oai: openai.OpenAI, emulator_url: str) -> None:
    httpx.post(
        f"{emulator_url}/_emulator/script", json={"account": None, "replies": [{"reply": "Scripted."}]}, timeout=5
    ).raise_for_status()
    answer = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "anything"}])
    assert answer.choices[0].message.content == "Scripted."


# ---- structured output --------------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    age: int
    city: str


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int
    pros: list[str]


def test_openai_parse_with_a_pydantic_model(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.parse(
        model="gpt-4o",
        response_format=Person,
        messages=[
            {"role": "system", "content": "Extract the person."},
            {"role": "user", "content": "Alice is 30 years old and lives in Paris."},
        ],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.parsed == Person(name="Alice", age=30, city="Paris")


def test_langchain_with_structured_output(demo: Service) -> None:
    prompt = "A positive review, 4 stars: fast, quiet and cheap."
    expected = Review(sentiment="positive", stars=4, pros=["fast", "quiet", "cheap"])
    openai_chat = ChatOpenAI(base_url=f"{demo.url}/v1", api_key="anything", model="gpt-4o-mini", max_retries=0)
    assert openai_chat.with_structured_output(Review).invoke(prompt) == expected  # json_schema
    tools = openai_chat.with_structured_output(Review, method="function_calling")
    assert tools.invoke(prompt) == expected
    anthropic_chat = ChatAnthropic(  # type: ignore[call-arg]
        base_url=demo.url, api_key="anything", model="claude-3-5-haiku-latest", max_retries=0
    )
    assert anthropic_chat.with_structured_output(Review).invoke(prompt) == expected  # a forced tool call


@needs_ai_sdk
@pytest.mark.parametrize("kind", ["chat", "responses", "anthropic"])
def test_ai_sdk_generate_object(demo: Service, tmp_path: Path, kind: str) -> None:
    script = install_script(tmp_path)
    prompt = "Bob is 42, lives in Lisbon and likes surfing, chess and jazz."
    model = "claude-sonnet-4-5" if kind == "anthropic" else "gpt-4.1"
    result = ai_sdk(script, demo.url, f"{kind}-object", prompt, model=model)
    assert result["object"] == {"name": "Bob", "age": 42, "city": "Lisbon", "hobbies": ["surfing", "chess", "jazz"]}


# ---- tools --------------------------------------------------------------------------------------------


def agent_tools() -> list[dict[str, Any]]:
    """Twenty tools, as an agent framework offers them."""
    names = [
        ("create_task", "Create a task"),
        ("delete_task", "Delete a task"),
        ("list_tasks", "List the tasks"),
        ("send_email", "Send an e-mail"),
        ("schedule_meeting", "Schedule a meeting"),
        ("write_file", "Write a file"),
        ("read_file", "Read a file from disk"),
        ("run_command", "Run a shell command"),
        ("search_web", "Search the web"),
        ("fetch_url", "Fetch a URL"),
        ("translate_text", "Translate text into another language"),
        ("convert_currency", "Convert an amount between currencies"),
        ("get_stock_price", "Latest stock price for a ticker"),
        ("book_flight", "Book a flight"),
        ("cancel_order", "Cancel an order"),
        ("lookup_contact", "Find a contact in the address book"),
        ("get_calendar", "Events in the calendar"),
        ("create_invoice", "Create an invoice"),
        ("summarize_document", "Summarize a document"),
    ]
    made = [
        {"type": "function", "function": {"name": n, "description": d, "parameters": {"type": "object", "properties": {}}}}
        for n, d in names
    ]
    return [*made, WEATHER]


def test_hello_gets_text_even_with_twenty_tools(oai: openai.OpenAI) -> None:
    tools = agent_tools()
    assert len(tools) == 20
    answer = oai.chat.completions.create(
        model="gpt-4o", tools=tools, messages=[{"role": "user", "content": "hello"}]  # type: ignore[arg-type]
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "hello" and not answer.choices[0].message.tool_calls


def test_openai_tool_round_trip_uses_the_result(oai: openai.OpenAI) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = oai.chat.completions.create(model="gpt-4o", tools=agent_tools(), messages=[question])  # type: ignore[arg-type, list-item]
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    answer = oai.chat.completions.create(
        model="gpt-4o",
        tools=agent_tools(),  # type: ignore[arg-type]
        messages=[
            question,  # type: ignore[list-item]
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "The get_weather tool returned: sunny, 21 C"


def test_anthropic_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    tool = {
        "name": "get_weather",
        "description": "Current weather for a city",
        "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
    }
    question = {"role": "user", "content": "What's the weather like in Tokyo?"}
    first = claude.messages.create(model="claude-sonnet-4-5", max_tokens=512, tools=[tool], messages=[question])  # type: ignore[list-item]
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Tokyo"}
    second = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        tools=[tool],  # type: ignore[list-item]
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 24 C"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text == "The get_weather tool returned: Sunny, 24 C"


# ---- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_work_in_the_demo(oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 1024 and result.data[0].embedding != result.data[1].embedding


# ---- aliases by capability ------------------------------------------------------------------------------


def image_block() -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}}


@pytest.mark.parametrize("model", ["claude-opus-4-1", "claude-sonnet-4-5", "claude-3-5-haiku-latest"])
def test_an_image_goes_to_a_vision_model_of_the_family(claude: anthropic.Anthropic, model: str) -> None:
    message = claude.messages.create(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": [image_block(), {"type": "text", "text": "What is this?"}]}],
    )
    assert message.model == model
    text = message.content[0].text  # type: ignore[union-attr]
    assert "What is this?" in text and "image/png 70 bytes" in text, "the image reached the upstream"


def test_thinking_goes_to_a_model_that_thinks(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-5",  # its family's first model does not think
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text"]
    assert "sky" in message.content[0].thinking  # type: ignore[union-attr]


def test_gpt_4o_takes_an_image(oai: openai.OpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    answer = oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Describe it"}],
            }
        ],
    )
    assert "Describe it" in (answer.choices[0].message.content or "")


def test_an_explicit_model_keeps_its_refusal_and_every_model_it_suggests_answers(oai: openai.OpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content: Any = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What is it?"}]
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": content}])
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "unsupported_media_for_model"
    suggested = body["message"].split("models that do: ")[1].split(", ")
    assert suggested
    for model in suggested:
        answer = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
        assert "What is it?" in (answer.choices[0].message.content or ""), model
