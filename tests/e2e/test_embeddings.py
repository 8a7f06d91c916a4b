"""`/v1/embeddings` with the openai SDK against the gateway process: floats and base64 (the SDK's default),
dimensions, aliases, splitting past the upstream's rows per call with the order kept, token arrays, and the
400 when no account serves embeddings. Also: embeddings (aux) and speech (media) admit into their own
scheduler classes with their own caps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from qwen_server.emulator.media import embedding_of
from tests.e2e.audio_support import account, bodies, start_audio_upstream, stats
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_audio_upstream()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def dashscope(upstream: Service) -> Iterator[Service]:
    env = {"SCHED_MEDIA_CONCURRENT": "1", "SCHED_MEDIA_QUEUE": "0"}
    gateway = start_gateway(env, accounts=[account("dashscope", upstream, "ds")])
    yield gateway
    gateway.stop()


@pytest.fixture
def client(dashscope: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{dashscope.url}/v1", api_key="k", max_retries=0)


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
    )


def test_float_vectors_in_input_order(client: openai.OpenAI, upstream: Service) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    assert [d.index for d in result.data] == [0, 1]
    assert close(result.data[0].embedding, embedding_of("alpha", 16))
    assert close(result.data[1].embedding, embedding_of("beta", 16))
    assert result.model == "text-embedding-3-small"
    assert result.usage.prompt_tokens > 0
    assert bodies(upstream)[-1]["model"] == "text-embedding-v4"


def test_base64_is_the_sdk_default(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model="text-embedding-v4", input="one string")
    wire = raw.http_response.json()
    assert isinstance(wire["data"][0]["embedding"], str)  # the SDK asked for base64
    result = raw.parse()
    assert close(result.data[0].embedding, embedding_of("one string", 16))


def test_dimensions_reach_the_upstream(client: openai.OpenAI, upstream: Service) -> None:
    result = client.embeddings.create(model="text-embedding-3-large", input="sized", dimensions=64)
    assert len(result.data[0].embedding) == 64
    assert bodies(upstream)[-1]["dimensions"] == 64


def test_more_rows_than_the_upstream_takes_are_split_and_reassembled(
    client: openai.OpenAI, upstream: Service
) -> None:
    before = stats(upstream)
    rows = [f"row number {i}" for i in range(25)]
    result = client.embeddings.create(model="text-embedding-ada-002", input=rows)
    assert [d.index for d in result.data] == list(range(25))
    for row, item in zip(rows, result.data, strict=True):
        assert close(item.embedding, embedding_of(row, 16))
    after = stats(upstream)
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in ("embeddings 10", "embeddings 5")}
    assert calls == {"embeddings 10": 2, "embeddings 5": 1}
    assert after.get("400 embeddings rows", 0) == before.get("400 embeddings rows", 0)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["fine", ""]}, "input"),
        ({"input": ["text", 3]}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": [[1, 2, 3]]}, "input"),  # token arrays: DashScope takes text only
    ],
)
def test_bad_input_is_a_400(client: openai.OpenAI, body: dict[str, object], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/embeddings", body={"model": "text-embedding-v4", **body}, cast_to=object)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == param and error["message"]


def test_token_arrays_go_to_openai_compatible_accounts(upstream: Service) -> None:
    gateway = start_gateway(accounts=[account("openai", upstream, "compat")])
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        result = client.embeddings.create(
            model="text-embedding-v4", input=[[1, 2, 3], [4, 5]], encoding_format="float"
        )
        assert len(result.data) == 2
        assert bodies(upstream)[-1]["input"] == [[1, 2, 3], [4, 5]]
    finally:
        gateway.stop()


def test_no_capable_account_is_a_400_that_says_so() -> None:
    emulator = start_emulator(accounts=1)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 1))
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            client.embeddings.create(model="text-embedding-3-small", input="hello")
        error = caught.value.body
        assert isinstance(error, dict)
        assert "DashScope or OpenAI-compatible account" in str(error["message"])
        assert error["code"] == "embeddings_unavailable"
    finally:
        gateway.stop()
        emulator.stop()


def test_speech_and_embeddings_admit_into_their_own_classes(
    client: openai.OpenAI, dashscope: Service
) -> None:
    """SCHED_MEDIA_CONCURRENT=1 with no queue: while one speech stream holds the media slot, a second speech
    is refused with queue_full, and embeddings (aux) still go through."""
    metrics = httpx.get(f"{dashscope.url}/v1/metrics", timeout=30).json()["scheduler"]
    aux_before, media_before = metrics["aux"]["admitted"], metrics["media"]["admitted"]
    assert metrics["media"]["limit"] == 1
    with client.audio.speech.with_streaming_response.create(
        # 4,080 characters at a quarter of the speed: about 30 MB of PCM, far more than socket buffers hold
        model="tts-1",
        voice="alloy",
        input="long speech " * 340,
        response_format="pcm",
        speed=0.25,
    ) as held:
        pieces = held.iter_bytes(1024)  # kept: a dropped iterator would close the stream
        assert next(pieces)
        with pytest.raises(openai.RateLimitError) as caught:
            client.audio.speech.create(model="tts-1", voice="alloy", input="second", response_format="pcm")
        error = caught.value.body
        assert isinstance(error, dict) and error["code"] == "queue_full"
        assert client.embeddings.create(model="text-embedding-v4", input="still served").data
    metrics = httpx.get(f"{dashscope.url}/v1/metrics", timeout=30).json()["scheduler"]
    assert metrics["aux"]["admitted"] == aux_before + 1
    assert metrics["media"]["admitted"] == media_before + 1


def _maps_av(pid: int) -> bool:
    """Whether FFmpeg's libraries (PyAV's) are mapped into the process."""
    return "libavcodec" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_embeddings_never_load_the_audio_codecs(upstream: Service) -> None:
    gateway = start_gateway(accounts=[account("dashscope", upstream, "ds")])
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        assert client.embeddings.create(model="text-embedding-v4", input=["a", "b"]).data
        assert not _maps_av(gateway.process.pid)
        # opus is written by PyAV (mp3 and flac need no FFmpeg): the probe sees the codecs once they are loaded
        client.audio.speech.create(model="tts-1", voice="alloy", input="now load them", response_format="opus")
        assert _maps_av(gateway.process.pid)
    finally:
        gateway.stop()
