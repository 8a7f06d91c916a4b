"""OpenAI Chat Completions ⇄ neutral: the sampling switches in, logprobs out (streamed and collected)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from qwen_server.api.openai.mapping import ChunkWriter, collect, to_neutral
from qwen_server.api.openai.schemas import ChatCompletionRequest
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ChatRequest, Event, Finish, TextDelta, TokenLogprob, Usage

MESSAGES = [{"role": "user", "content": "hi"}]
HI: list[TokenLogprob] = [
    {
        "token": "Hi",
        "logprob": -0.5,
        "bytes": [72, 105],
        "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": None}],
    }
]


def _neutral(**fields: object) -> ChatRequest:
    body = ChatCompletionRequest.model_validate({"model": "qwen-plus", "messages": MESSAGES, **fields})
    return to_neutral(body, tenant="t", session_id=None)


def test_sampling_switches_reach_the_neutral_request() -> None:
    request = _neutral(
        top_k=20,
        seed=3,
        frequency_penalty=0.4,
        presence_penalty=-0.2,
        repetition_penalty=1.1,
        logprobs=True,
        top_logprobs=2,
        response_format={"type": "json_object"},
    )
    assert (request.top_k, request.seed) == (20, 3)
    assert (request.frequency_penalty, request.presence_penalty, request.repetition_penalty) == (
        0.4,
        -0.2,
        1.1,
    )
    assert (request.logprobs, request.top_logprobs) == (True, 2)
    assert request.response_format == {"type": "json_object"}


def test_top_logprobs_without_logprobs_is_refused_as_openai_does() -> None:
    with pytest.raises(InvalidRequest) as caught:
        _neutral(top_logprobs=2)
    assert caught.value.param == "top_logprobs"


def test_the_chunk_writer_carries_logprobs() -> None:
    writer = ChunkWriter("qwen-plus", include_usage=False)
    with_lp = orjson.loads(writer.event(TextDelta("Hi", HI), [])[len(b"data: ") :])
    without = orjson.loads(writer.event(TextDelta("!"), [])[len(b"data: ") :])
    assert with_lp["choices"][0]["logprobs"] == {"content": HI, "refusal": None}
    assert without["choices"][0]["logprobs"] is None


async def test_collect_gathers_logprobs_and_leaves_null_when_there_are_none() -> None:
    async def rest(events: list[Event]) -> AsyncIterator[Event]:
        for event in events:
            yield event

    body = await collect(TextDelta("Hi", HI), rest([TextDelta(" there", HI), Usage(1, 2), Finish()]), "m")
    assert body["choices"][0]["logprobs"] == {"content": HI + HI, "refusal": None}
    plain = await collect(TextDelta("Hi"), rest([Finish()]), "m")
    assert plain["choices"][0]["logprobs"] is None
