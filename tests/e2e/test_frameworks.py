"""Client frameworks as users run them (LangChain, LlamaIndex, the Vercel AI SDK), pointed at the gateway.

Each framework picks its own endpoint: LangChain's `ChatOpenAI` switches to the Responses API for
`use_responses_api=True` or `reasoning=…`, LlamaIndex's `OpenAILike` uses `/v1/completions` unless told it is a
chat model, and the AI SDK's default `openai(model)` speaks the Responses API. The gateway and the emulator run
as processes; scripted replies make the emulator call tools.

The AI SDK tests need Node and `./dev test`'s install of the SDK into `.venv-tools/ai-sdk`; without it they skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from tests.e2e.ai_sdk_support import ai_sdk as run_ai_sdk
from tests.e2e.ai_sdk_support import install_script, needs_ai_sdk
from tests.processes import (
    Service,
    directive,
    emulator_accounts,
    emulator_stats,
    start_emulator,
    start_gateway,
)

MODEL = "qwen3-max"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Service, Service]]:
    emulator = start_emulator(accounts=2)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 2))
    yield emulator, gateway
    gateway.stop()
    emulator.stop()


@pytest.fixture
def emulator(stack: tuple[Service, Service]) -> Iterator[Service]:
    yield stack[0]
    httpx.post(f"{stack[0].url}/_emulator/reset", json={"all": True}, timeout=30).raise_for_status()


@pytest.fixture
def gateway(stack: tuple[Service, Service]) -> Service:
    return stack[1]


def script(emulator: Service, *replies: dict[str, object]) -> None:
    httpx.post(
        f"{emulator.url}/_emulator/script", json={"account": None, "replies": list(replies)}, timeout=5
    ).raise_for_status()


def tool_call(name: str, arguments: dict[str, object]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def chat_openai(gateway: Service, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{gateway.url}/v1", api_key="sk-any", model=MODEL, max_retries=0, **options)


def joined(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


# --- LangChain: ChatOpenAI over chat completions -------------------------------------------------------------


def test_langchain_chat_completions_invoke(gateway: Service) -> None:
    message = chat_openai(gateway).invoke("hello from langchain")
    assert isinstance(message, AIMessage)
    assert message.content == "hello from langchain"
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.response_metadata["id"].startswith("chatcmpl-")
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] > 0


def test_langchain_chat_completions_stream(gateway: Service) -> None:
    chunks = list(chat_openai(gateway, stream_usage=True).stream("one two three four five"))
    pieces = [c.content for c in chunks if c.content]
    assert len(pieces) > 1, "the answer arrives in pieces"
    total = joined(chunks)
    assert total.content == "one two three four five"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


def test_langchain_bind_tools_round_trip(gateway: Service, emulator: Service) -> None:
    script(
        emulator,
        {"reply": tool_call("get_weather", {"city": "Paris"})},
        {"reply": "It is sunny in Paris."},
    )
    llm = chat_openai(gateway).bind_tools([WEATHER])
    question = HumanMessage("What is the weather in Paris?")
    first = llm.invoke([question])
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    assert call["id"]
    assert first.response_metadata["finish_reason"] == "tool_calls"
    answer = llm.invoke([question, first, ToolMessage('{"sky": "sunny"}', tool_call_id=call["id"])])
    assert answer.content == "It is sunny in Paris." and not answer.tool_calls
    assert emulator_stats(emulator)["scripts_pending"] == 0


# --- LangChain: ChatOpenAI over the Responses API ------------------------------------------------------------


def test_langchain_responses_api_invoke(gateway: Service) -> None:
    message = chat_openai(gateway, use_responses_api=True).invoke("hello from the responses api")
    assert message.text == "hello from the responses api"
    assert message.response_metadata["id"].startswith("resp_"), "LangChain went to /v1/responses"
    assert message.response_metadata["status"] == "completed"
    assert message.usage_metadata is not None and message.usage_metadata["input_tokens"] > 0


def test_langchain_responses_api_stream(gateway: Service) -> None:
    chunks = list(chat_openai(gateway, use_responses_api=True).stream("alpha beta gamma delta"))
    assert len([c for c in chunks if c.text]) > 1, "the answer arrives in pieces"
    total = joined(chunks)
    assert total.text == "alpha beta gamma delta"
    assert total.response_metadata["id"].startswith("resp_")
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


def test_langchain_reasoning_switches_to_the_responses_api(gateway: Service) -> None:
    llm = chat_openai(gateway, reasoning={"effort": "low", "summary": "auto"})
    message = llm.invoke("think about this")
    assert message.response_metadata["id"].startswith("resp_"), "reasoning= made LangChain use /v1/responses"
    assert message.text == "think about this"
    assert "think about this" in reasoning_of(message), "the thinking came back as a reasoning summary"
    chunks = list(llm.stream("and stream it"))
    total = joined(chunks)
    assert total.text == "and stream it"
    assert total.response_metadata["id"].startswith("resp_")
    assert "and stream it" in reasoning_of(total)


def reasoning_of(message: AIMessage) -> str:
    return "".join(str(b.get("reasoning") or "") for b in message.content_blocks if b["type"] == "reasoning")


def test_langchain_responses_api_bind_tools_round_trip(gateway: Service, emulator: Service) -> None:
    script(
        emulator,
        {"reply": tool_call("get_weather", {"city": "Oslo"})},
        {"reply": "Oslo is sunny today."},
    )
    llm = chat_openai(gateway, use_responses_api=True).bind_tools([WEATHER])
    question = HumanMessage("What is the weather in Oslo?")
    first = llm.invoke([question])
    (call,) = first.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Oslo"}
    answer = llm.invoke([question, first, ToolMessage('{"sky": "sunny"}', tool_call_id=call["id"])])
    assert answer.text == "Oslo is sunny today." and not answer.tool_calls
    assert emulator_stats(emulator)["scripts_pending"] == 0


# --- LangChain: ChatAnthropic over /v1/messages --------------------------------------------------------------


def chat_anthropic(gateway: Service) -> ChatAnthropic:
    return ChatAnthropic(base_url=gateway.url, api_key="sk-any", model=MODEL, max_retries=0)  # type: ignore[call-arg]


def test_langchain_anthropic_invoke_and_stream(gateway: Service) -> None:
    message = chat_anthropic(gateway).invoke("hello from chat anthropic")
    assert message.text == "hello from chat anthropic"
    assert message.response_metadata["stop_reason"] == "end_turn"
    assert message.response_metadata["id"].startswith("msg_")
    chunks = list(chat_anthropic(gateway).stream("streamed through messages"))
    assert len([c for c in chunks if c.text]) > 1
    assert joined(chunks).text == "streamed through messages"


def test_langchain_anthropic_bind_tools(gateway: Service) -> None:
    llm = chat_anthropic(gateway).bind_tools([WEATHER])
    reply = tool_call("get_weather", {"city": "Rome"})
    message = llm.invoke("Weather please " + directive(reply=reply))
    (call,) = message.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Rome"}
    assert message.response_metadata["stop_reason"] == "tool_use"


# --- LlamaIndex: OpenAILike ----------------------------------------------------------------------------------


def openai_like(gateway: Service, *, chat: bool) -> OpenAILike:
    return OpenAILike(
        model=MODEL, api_base=f"{gateway.url}/v1", api_key="sk-any", is_chat_model=chat, max_retries=0
    )


def test_llamaindex_complete_uses_legacy_completions(gateway: Service) -> None:
    llm = openai_like(gateway, chat=False)
    response = llm.complete("complete this sentence")
    assert response.raw.object == "text_completion", "OpenAILike went to /v1/completions"
    assert "complete this sentence" in response.text
    streamed = list(llm.stream_complete("stream this sentence"))
    assert len(streamed) > 1
    assert streamed[-1].text == response.text.replace("complete", "stream")


def test_llamaindex_chat_model(gateway: Service) -> None:
    llm = openai_like(gateway, chat=True)
    response = llm.chat(
        [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hi there")]
    )
    assert response.raw.object == "chat.completion"
    assert response.message.content == "hi there"
    streamed = list(llm.stream_chat([ChatMessage(role="user", content="streamed hello world")]))
    assert len(streamed) > 1
    assert streamed[-1].message.content == "streamed hello world"


# --- Vercel AI SDK -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ai_sdk_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_script(tmp_path_factory.mktemp("ai-sdk"))


def ai_sdk(script_path: Path, gateway: Service, case: str, prompt: str) -> dict[str, Any]:
    return run_ai_sdk(script_path, gateway.url, case, prompt)


@needs_ai_sdk
@pytest.mark.parametrize("kind", ["responses", "chat", "anthropic"])
def test_ai_sdk_generate_text(gateway: Service, ai_sdk_script: Path, kind: str) -> None:
    result = ai_sdk(ai_sdk_script, gateway, f"{kind}-generate", f"hello from the ai sdk {kind}")
    assert result["text"] == f"hello from the ai sdk {kind}"
    assert result["finishReason"] == "stop"
    assert result["usage"]["outputTokens"] > 0


@needs_ai_sdk
@pytest.mark.parametrize("kind", ["responses", "chat", "anthropic"])
def test_ai_sdk_stream_text(gateway: Service, ai_sdk_script: Path, kind: str) -> None:
    result = ai_sdk(ai_sdk_script, gateway, f"{kind}-stream", f"streaming words for {kind} now")
    assert len(result["pieces"]) > 1, "the answer arrives in pieces"
    assert "".join(result["pieces"]) == result["text"] == f"streaming words for {kind} now"
    assert result["finishReason"] == "stop"
    assert result["usage"]["outputTokens"] > 0


@needs_ai_sdk
@pytest.mark.parametrize("kind", ["responses", "chat", "anthropic"])
def test_ai_sdk_tool_round_trip(gateway: Service, emulator: Service, ai_sdk_script: Path, kind: str) -> None:
    script(
        emulator,
        {"reply": "Checking. " + tool_call("get_weather", {"city": "Lima"})},
        {"reply": "Lima is sunny at 21 degrees."},
    )
    result = ai_sdk(ai_sdk_script, gateway, f"{kind}-tools", "What is the weather in Lima?")
    assert result["executed"] == [{"city": "Lima"}], "the SDK ran the tool the model called"
    first, second = result["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Lima"}}]
    assert second["finishReason"] == "stop" and second["toolCalls"] == []
    assert result["text"] == "Lima is sunny at 21 degrees."
    assert emulator_stats(emulator)["scripts_pending"] == 0
