"""The legacy `POST /v1/completions` (text completions) ⇄ the neutral model: a thin mapping.

The prompt becomes one user turn (the upstream models are chat models); the answer comes back as
`text_completion` objects. One prompt per request: a list of several prompts, token-id prompts and
`n > 1` are refused with a 400 that says so.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from qwen_server.api.openai.mapping import FINISH, usage_body
from qwen_server.api.openai.schemas import checked_stop
from qwen_server.core.citations import citation_text
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.ids import hex_id
from qwen_server.core.model import ChatRequest, Citation, Event, Finish, Message, TextDelta, TextPart, Usage


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    prompt: str | list[Any] = ""
    suffix: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    echo: bool = False
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    user: str | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_limit(cls, value: object) -> object:
        return checked_stop(value)


def prompt_text(body: CompletionRequest) -> str:
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise InvalidRequest(
                "give one prompt as a string: lists of several prompts and token ids are not supported",
                param="prompt",
            )
        prompt = prompt[0]
    return prompt


def to_neutral(body: CompletionRequest, *, tenant: str, session_id: str | None) -> ChatRequest:
    if body.n is not None and body.n > 1:
        raise InvalidRequest("n > 1 is not supported: ask for one choice per request", param="n")
    text = prompt_text(body)
    if body.suffix:
        text += f"\n\n(The text continues with: {body.suffix})"
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    return ChatRequest(
        model=body.model,
        messages=[Message("user", [TextPart(text)])],
        stream=body.stream,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_tokens,
        stop=stop,
        seed=body.seed,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
        user=body.user,
        session_id=session_id,
        tenant=tenant,
    )


def _text_of(event: Event) -> str:
    if isinstance(event, TextDelta):
        return event.text
    if isinstance(event, Citation):
        return citation_text(event)
    return ""


class CompletionChunks:
    """Neutral events → `text_completion` chunks (SSE lines)."""

    def __init__(self, model: str, include_usage: bool, echo: str = "") -> None:
        self.id = f"cmpl-{hex_id()}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._echo = echo

    def _line(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            body["usage"] = usage
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def _choice(self, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    def event(self, event: Event, usage_holder: list[Usage]) -> bytes:
        """As `ChunkWriter.event`, so the chat route's SSE loop writes these too."""
        if isinstance(event, Usage):
            usage_holder.append(event)
            return b""
        if isinstance(event, Finish):
            out = self._line([self._choice("", FINISH.get(event.reason, "stop"))])
            if self.include_usage and usage_holder:
                out += self._line([], usage_body(usage_holder[-1]))
            return out
        text = _text_of(event)
        if self._echo:
            text, self._echo = self._echo + text, ""
        return self._line([self._choice(text)]) if text else b""


async def collect(first: Event, events: AsyncIterator[Event], model: str, echo: str = "") -> dict[str, Any]:
    text = [echo]
    usage = Usage()
    finish = Finish()
    for event in [first]:
        text.append(_text_of(event))
    async for event in events:
        text.append(_text_of(event))
        if isinstance(event, Usage):
            usage = event
        elif isinstance(event, Finish):
            finish = event
    return {
        "id": f"cmpl-{hex_id()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "text": "".join(text),
                "index": 0,
                "logprobs": None,
                "finish_reason": FINISH.get(finish.reason, "stop"),
            }
        ],
        "usage": usage_body(usage),
    }
