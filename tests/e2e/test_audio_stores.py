"""Speech and transcription hold a `media` slot, embeddings an `aux` one, in the shared store: on SQLite and
Redis, a held speech stream keeps the only media slot (a second speech or transcription is refused with
queue_full while embeddings pass), and a client that walks away mid-stream gives the slot back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.audio_support import account, start_audio_upstream, wav_of
from tests.processes import Service, start_gateway
from tests.services import redis_binary, start_redis, stop


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_audio_upstream()
    yield service
    service.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    url, process = start_redis()
    yield url
    stop(process)


def media_in_flight(gateway: Service) -> int:
    scheduler = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()["scheduler"]
    return int(scheduler["media"]["in_flight"])


def test_media_slot_is_held_by_a_stream_and_freed_when_the_client_leaves(
    upstream: Service, store_url: str
) -> None:
    env = {"STORE_URL": store_url, "SCHED_MEDIA_CONCURRENT": "1", "SCHED_MEDIA_QUEUE": "0"}
    gateway = start_gateway(env, accounts=[account("dashscope", upstream, "ds")])
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        with client.audio.speech.with_streaming_response.create(
            # 4,090 characters at a quarter of the speed: about 30 MB of PCM, far more than socket buffers hold
            model="tts-1",
            voice="alloy",
            input="held open " * 409,
            response_format="pcm",
            speed=0.25,
        ) as held:
            pieces = held.iter_bytes(1024)  # kept: a dropped iterator would close the stream
            assert next(pieces)
            assert media_in_flight(gateway) == 1
            with pytest.raises(openai.RateLimitError) as speech_refused:
                client.audio.speech.create(
                    model="tts-1", voice="alloy", input="second", response_format="pcm"
                )
            with pytest.raises(openai.RateLimitError) as transcription_refused:
                client.audio.transcriptions.create(model="whisper-1", file=("c.wav", wav_of("queued")))
            assert client.embeddings.create(model="text-embedding-v4", input="aux is its own class").data
        for refused in (speech_refused, transcription_refused):
            body = refused.value.body
            assert isinstance(body, dict) and body["code"] == "queue_full"
        deadline = time.monotonic() + 15
        while media_in_flight(gateway) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert media_in_flight(gateway) == 0, "the abandoned stream gave its media slot back"
        after = client.audio.speech.create(
            model="tts-1", voice="alloy", input="served again", response_format="pcm"
        )
        assert after.content
    finally:
        gateway.stop()
