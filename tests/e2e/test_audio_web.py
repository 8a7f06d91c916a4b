"""Speech on Qwen Chat web accounts: the openai SDK against the gateway process, whose accounts sign in to
the emulator process and speak through the web app's read-aloud flow (a turn, the message's content set,
`/api/v2/tts/completions`). The emulator's speech is 40 ms per character, so durations are exact."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import openai
import orjson
import pytest

from qwen_server.emulator.media import SECONDS_PER_CHAR, speech_pcm, transcript_of, translation_of
from tests.e2e.audio_support import decode, wav_of
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

TEXT = "Spoken by a web account."


@pytest.fixture(scope="module")
def web_client() -> Iterator[openai.OpenAI]:
    emulator: Service = start_emulator(accounts=2)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 2))
    try:
        yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    finally:
        gateway.stop()
        emulator.stop()


def test_pcm_is_exactly_what_the_web_app_spoke(web_client: openai.OpenAI) -> None:
    audio = web_client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm")
    assert audio.content == speech_pcm(TEXT)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac"])
def test_encoded_formats_decode_to_the_spoken_length(web_client: openai.OpenAI, fmt: str) -> None:
    audio = web_client.audio.speech.create(
        model="qwen3-tts-flash", voice="Cherry", input=TEXT, response_format=fmt
    )
    decoded = decode(audio.content)
    assert decoded.sample_rate == 24_000
    assert len(TEXT) * SECONDS_PER_CHAR <= decoded.duration <= len(TEXT) * SECONDS_PER_CHAR + 0.12


def test_sse_and_speed(web_client: openai.OpenAI) -> None:
    with web_client.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice="alloy",
        input=TEXT,
        response_format="wav",
        speed=0.5,
        extra_body={"stream_format": "sse"},
    ) as response:
        events = [orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert decode(audio).duration == pytest.approx(len(TEXT) * SECONDS_PER_CHAR * 2, abs=0.05)


def test_unknown_voice_is_a_400(web_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        web_client.audio.speech.create(model="tts-1", voice="nobody", input=TEXT)  # type: ignore[arg-type]
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "voice" and "Known voices" in str(error["message"])


def test_web_transcription_uploads_the_clip(web_client: openai.OpenAI) -> None:
    clip = wav_of("heard on the web")
    result = web_client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", clip))
    assert result.text == transcript_of(clip)
    srt = web_client.audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", clip), response_format="srt"
    )
    assert transcript_of(clip) in str(srt)


def test_web_translation_and_streaming(web_client: openai.OpenAI) -> None:
    clip = wav_of("translated on the web")
    assert web_client.audio.translations.create(
        model="whisper-1", file=("c.wav", clip)
    ).text == translation_of(clip)
    events = list(
        web_client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip), stream=True)
    )
    assert events[-1].type == "transcript.text.done" and events[-1].text == transcript_of(clip)
