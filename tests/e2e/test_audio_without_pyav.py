"""The audio routes where PyAV (the `audio` extra) is not installed, as on the serverless deployments: speech
in mp3, flac, wav and pcm, and transcription of WAV, MP3, FLAC and Ogg uploads with their real lengths, all
without FFmpeg; opus, aac and gateway-side speed changes answer 400 naming what is missing, never a 500.
The gateway process runs with an `av` package that cannot be imported ahead of the installed one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from qwen_server.emulator.media import SECONDS_PER_CHAR, transcript_of
from tests.e2e.audio_support import account, decode, encoded, start_audio_upstream, wav_of
from tests.processes import Service, start_gateway

TEXT = "speech made without ffmpeg"
SECONDS = len(TEXT) * SECONDS_PER_CHAR


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_audio_upstream()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def client(upstream: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    blocked = tmp_path_factory.mktemp("no-pyav")
    (blocked / "av").mkdir()
    (blocked / "av" / "__init__.py").write_text('raise ImportError("PyAV is not installed in this process")\n')
    gateway = start_gateway(
        {"PYTHONPATH": str(blocked)},
        accounts=[account("dashscope", upstream, "ds")],  # speaks PCM; `speed` is the gateway's job
    )
    try:
        yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    finally:
        log = gateway.log()
        gateway.stop()
    assert "Traceback" not in log


@pytest.mark.parametrize(("fmt", "container"), [("mp3", "mp3"), ("flac", "flac"), ("wav", "wav")])
def test_light_formats_decode_to_the_spoken_length(client: openai.OpenAI, fmt: str, container: str) -> None:
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    decoded = decode(audio.content)  # PyAV in the test process: an independent decoder
    assert decoded.container == container and decoded.channels == 1 and decoded.sample_rate == 24000
    assert SECONDS <= decoded.duration <= SECONDS + 0.1


def test_pcm_is_the_raw_samples(client: openai.OpenAI) -> None:
    pcm = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm").content
    assert len(pcm) == round(SECONDS * 24000) * 2


@pytest.mark.parametrize("fmt", ["opus", "aac"])
def test_ffmpeg_formats_are_a_400_naming_the_extra(client: openai.OpenAI, fmt: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "response_format"
    assert fmt in body["message"] and "PyAV" in body["message"] and "mp3, flac, wav, pcm" in body["message"]


def test_speed_on_a_pcm_upstream_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav", speed=2.0)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "speed" and "PyAV" in body["message"]
    assert client.audio.speech.create(model="tts-1", voice="alloy", input="still fine", response_format="wav")


def test_transcription_lengths_without_ffmpeg(client: openai.OpenAI) -> None:
    text = "a sentence long enough to measure" * 2
    clips = {"wav": wav_of(text), "mp3": encoded(text, "mp3"), "flac": encoded(text, "flac")}
    clips["ogg"] = encoded(text, "opus")  # made by PyAV here, read by the gateway's own Ogg reader
    for extension, clip in clips.items():
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=(f"clip.{extension}", clip), response_format="verbose_json"
        )
        assert verbose.text == transcript_of(clip)
        assert verbose.duration == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.13), extension


def test_other_containers_are_a_400_naming_the_extra(client: openai.OpenAI, tmp_path: Path) -> None:
    import io

    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:  # an m4a clip, as phones record them
        stream = container.add_stream("aac", rate=24000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=2400)
        frame.planes[0].update(b"\x00\x10" * 2400)
        frame.sample_rate = 24000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("clip.m4a", out.getvalue()))
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "file" and "PyAV" in body["message"]
