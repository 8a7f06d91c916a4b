"""`/v1/audio/speech` with the openai SDK against the gateway process: every format decoded back with PyAV
(duration and sample rate), SSE, speed, voices, and bad input. Upstreams: a fake OpenAI-compatible server
(its own process) as an `openai` account (pass-through) and as a `dashscope` account (qwen3-tts-flash on the
native API)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import openai
import orjson
import pytest

from qwen_server.emulator.media import SECONDS_PER_CHAR
from tests.e2e.audio_support import account, bodies, decode, start_audio_upstream
from tests.processes import Service, start_gateway

TEXT = "Hello from the gateway, spoken."
SECONDS = len(TEXT) * SECONDS_PER_CHAR
# encoder delay and padding: mp3 and aac add up to a frame or two at each end
SLACK = {"mp3": 0.12, "aac": 0.12, "opus": 0.03, "flac": 0.001, "wav": 0.001}
RATES = {
    "mp3": 24_000,
    "aac": 24_000,
    "flac": 24_000,
    "wav": 24_000,
    "opus": 48_000,
}  # Opus decodes at 48 kHz
CONTAINERS = {
    "mp3": ("mp3", "mp3"),
    "aac": ("aac", "aac"),
    "flac": ("flac", "flac"),
    "wav": ("wav", "pcm_s16le"),
}
CONTAINERS["opus"] = ("ogg", "opus")


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_audio_upstream()
    yield service
    service.stop()


@pytest.fixture(scope="module", params=["openai", "dashscope"])
def client(request: pytest.FixtureRequest, upstream: Service) -> Iterator[openai.OpenAI]:
    gateway = start_gateway(accounts=[account(request.param, upstream, request.param)])
    try:
        yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    finally:
        gateway.stop()


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_every_format_decodes_to_the_spoken_length(client: openai.OpenAI, fmt: str) -> None:
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    decoded = decode(audio.content)
    container, codec = CONTAINERS[fmt]
    assert decoded.container == container
    assert decoded.codec.startswith(codec)
    assert decoded.sample_rate == RATES[fmt]
    assert decoded.channels == 1
    assert SECONDS <= decoded.duration <= SECONDS + SLACK[fmt] + 0.001


def test_mp3_is_the_default_and_pcm_is_raw_24k_samples(client: openai.OpenAI) -> None:
    default = client.audio.speech.create(model="gpt-4o-mini-tts", voice="nova", input=TEXT)
    assert default.response.headers["content-type"] == "audio/mpeg"
    assert decode(default.content).container == "mp3"
    pcm = client.audio.speech.create(model="tts-1-hd", voice="Cherry", input=TEXT, response_format="pcm")
    assert len(pcm.content) == round(SECONDS * 24_000) * 2


def test_streamed_body_arrives_in_pieces(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT * 4, response_format="pcm"
    ) as response:
        pieces = [p for p in response.iter_bytes(4096) if p]
    assert len(pieces) > 1
    assert sum(len(p) for p in pieces) == round(len(TEXT * 4) * SECONDS_PER_CHAR * 24_000) * 2


def test_sse_events_carry_the_encoded_audio(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="mp3", extra_body={"stream_format": "sse"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] > 0
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    decoded = decode(audio)
    assert decoded.sample_rate == 24_000
    assert SECONDS <= decoded.duration <= SECONDS + SLACK["mp3"]


def test_speed_shortens_the_speech(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="wav", speed=2.0
    )
    assert decode(audio.content).duration == pytest.approx(SECONDS / 2, abs=0.03)


def test_speech_shorter_than_the_tempo_window_still_comes_back(client: openai.OpenAI) -> None:
    """One character at 3x: the tempo filter gives back nothing for so short a clip, which then comes back at
    its own speed (it was a 500, found by the contract test's fuzzing)."""
    audio = client.audio.speech.create(
        model="tts-1", voice="alloy", input="0", response_format="wav", speed=3.0
    )
    decoded = decode(audio.content)
    assert decoded.sample_rate == 24_000 and 0 < decoded.duration <= SECONDS_PER_CHAR + SLACK["wav"]


def test_voices_reach_the_upstream_mapped(client: openai.OpenAI, upstream: Service) -> None:
    client.audio.speech.create(model="tts-1", voice="onyx", input="mapped voice", response_format="pcm")
    sent = [b for b in bodies(upstream) if "mapped voice" in orjson.dumps(b).decode()][-1]
    if "input" in sent and isinstance(sent["input"], dict):  # DashScope's native body
        assert sent["model"] == "qwen3-tts-flash"
        assert sent["input"]["voice"] == "Marcus"
    else:  # OpenAI-compatible pass-through keeps the client's voice and model alias resolved
        assert sent["voice"] == "onyx"
        assert sent["model"] == "qwen3-tts-flash"
        assert sent["response_format"] == "pcm"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": "   "}, "input"),
        ({"input": "x" * 4097}, "input"),
        ({"voice": "no-such-voice"}, "voice"),
        ({"response_format": "ogg"}, "response_format"),
        ({"speed": 9}, "speed"),
        ({"stream_format": "chunks"}, "stream_format"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    client: openai.OpenAI, fields: dict[str, object], param: str
) -> None:
    body: dict[str, object] = {"model": "tts-1", "voice": "alloy", "input": "hi", **fields}
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/audio/speech", body=body, cast_to=bytes)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert error["message"]


def test_the_emulators_dashscope_account_speaks_as_serve_emulate_configures_it() -> None:
    """`serve --emulate` adds a `dashscope` account on the emulator: speech sent to it (the bandit may pick
    it over the web accounts) is spoken by the emulator's DashScope TTS route, streamed as DashScope does."""
    from qwen_server.local_emulator import emulated_accounts
    from tests.processes import start_emulator

    emulator = start_emulator(accounts=1)
    dashscope = [a for a in emulated_accounts(1, emulator.url) if a.get("kind") == "dashscope"]
    gateway = start_gateway(accounts=dashscope)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        audio = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="mp3")
        decoded = decode(audio.content)
        assert decoded.container == "mp3" and decoded.sample_rate == 24_000
        assert SECONDS <= decoded.duration <= SECONDS + SLACK["mp3"]
        pcm = client.audio.speech.create(model="tts-1", voice="nova", input=TEXT * 3, response_format="pcm")
        assert len(pcm.content) == round(len(TEXT * 3) * SECONDS_PER_CHAR * 24_000) * 2
    finally:
        gateway.stop()
        emulator.stop()
