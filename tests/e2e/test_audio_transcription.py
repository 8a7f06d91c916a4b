"""`/v1/audio/transcriptions` and `/translations` with the openai SDK against the gateway process, whose
account is a fake OpenAI-compatible upstream (its own process) answering `input_audio` with a transcript of
the exact bytes it received: every response format, streaming, translation, both native audio shapes
(OpenAI's base64 + format, DashScope's data: URL), and bad uploads."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import openai
import pytest

from qwen_server.emulator.media import SECONDS_PER_CHAR, transcript_of, translation_of
from tests.e2e.audio_support import account, bodies, encoded, start_audio_upstream, wav_of
from tests.processes import Service, start_gateway

SPOKEN = "the quick brown fox"
CLIP = wav_of(SPOKEN)
SECONDS = len(SPOKEN) * SECONDS_PER_CHAR


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_audio_upstream()
    yield service
    service.stop()


@pytest.fixture(scope="module", params=["openai", "dashscope"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def client(kind: str, upstream: Service) -> Iterator[openai.OpenAI]:
    gateway = start_gateway(accounts=[account(kind, upstream, kind)])
    try:
        yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    finally:
        gateway.stop()


def test_json_is_the_transcript_of_the_bytes_sent(
    client: openai.OpenAI, upstream: Service, kind: str
) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", CLIP))
    assert result.text == transcript_of(CLIP)
    sent = bodies(upstream)[-1]
    assert sent["model"] == "qwen3-asr-flash"
    audio = sent["messages"][-1]["content"][0]
    assert audio["type"] == "input_audio"
    if kind == "dashscope":
        assert audio["input_audio"]["data"] == "data:audio/wav;base64," + base64.b64encode(CLIP).decode()
    else:
        assert audio["input_audio"] == {"data": base64.b64encode(CLIP).decode(), "format": "wav"}
    assert "verbatim" in sent["messages"][0]["content"]


def test_text_srt_vtt_and_verbose_json(client: openai.OpenAI) -> None:
    expected = transcript_of(CLIP)
    text = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("c.wav", CLIP), response_format="text"
    )
    assert str(text).strip() == expected
    srt = str(
        client.audio.transcriptions.create(model="whisper-1", file=("c.wav", CLIP), response_format="srt")
    )
    assert srt == f"1\n00:00:00,000 --> 00:00:00,{round(SECONDS * 1000):03d}\n{expected}\n\n"
    vtt = str(
        client.audio.transcriptions.create(model="whisper-1", file=("c.wav", CLIP), response_format="vtt")
    )
    assert vtt == f"WEBVTT\n\n00:00:00.000 --> 00:00:00.{round(SECONDS * 1000):03d}\n{expected}\n\n"
    verbose = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe",
        file=("c.wav", CLIP),
        response_format="verbose_json",
        language="en",
        timestamp_granularities=["segment"],
    )
    assert verbose.text == expected
    assert verbose.duration == pytest.approx(SECONDS)
    assert verbose.language == "en"
    assert verbose.segments is not None and len(verbose.segments) == 1
    assert (verbose.segments[0].start, verbose.segments[0].text) == (0.0, expected)
    assert verbose.segments[0].end == pytest.approx(SECONDS)


def test_durations_come_from_the_decoded_audio_of_each_container(client: openai.OpenAI) -> None:
    long_text = "a longer sentence for the subtitles" * 3
    for fmt, extension in (("mp3", "mp3"), ("flac", "flac"), ("opus", "ogg")):
        clip = encoded(long_text, fmt)
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=(f"clip.{extension}", clip), response_format="verbose_json"
        )
        assert verbose.text == transcript_of(clip)
        assert verbose.duration == pytest.approx(len(long_text) * SECONDS_PER_CHAR, abs=0.13)


def test_streamed_transcript(client: openai.OpenAI) -> None:
    stream = client.audio.transcriptions.create(model="whisper-1", file=("c.wav", CLIP), stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done"
    assert set(kinds[:-1]) == {"transcript.text.delta"} and len(kinds) > 2
    deltas = "".join(e.delta for e in events[:-1] if e.type == "transcript.text.delta")
    assert deltas == transcript_of(CLIP)
    done = events[-1]
    assert done.type == "transcript.text.done" and done.text == transcript_of(CLIP)


def test_translation_to_english(client: openai.OpenAI, upstream: Service) -> None:
    result = client.audio.translations.create(model="whisper-1", file=("c.wav", CLIP), prompt="Names: Ada")
    assert result.text == translation_of(CLIP)
    system = bodies(upstream)[-1]["messages"][0]["content"]
    assert "into English" in system and "Names: Ada" in system
    srt = client.audio.translations.create(model="whisper-1", file=("c.wav", CLIP), response_format="srt")
    assert translation_of(CLIP) in str(srt)


def _error(caught: pytest.ExceptionInfo[openai.BadRequestError]) -> dict[str, object]:
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["message"]
    return body


def test_oversize_file_is_a_400(client: openai.OpenAI) -> None:
    big = b"\0" * (25 * 1024 * 1024 + 1024)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", big))
    error = _error(caught)
    assert error["param"] == "file" and error["code"] == "file_too_large"


@pytest.mark.parametrize(
    ("file", "fields", "param", "pattern"),
    [
        (("notes.txt", b"hello"), {}, "file", "Unsupported file format"),
        (("empty.wav", b""), {}, "file", "empty"),
        (("noise.wav", b"this is not audio at all" * 10), {}, "file", "could not be read as audio"),
        (("c.wav", CLIP), {"response_format": "docx"}, "response_format", "Unsupported response_format"),
        (("c.wav", CLIP), {"temperature": "hot"}, "temperature", "number"),
        (
            ("c.wav", CLIP),
            {"timestamp_granularities[]": "word"},
            "timestamp_granularities",
            "Word timestamps",
        ),
    ],
)
def test_bad_uploads_are_400s(
    client: openai.OpenAI, file: tuple[str, bytes], fields: dict[str, str], param: str, pattern: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post(
            "/audio/transcriptions",
            body={"model": "whisper-1", **fields},
            files=[("file", file)],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=object,
        )
    error = _error(caught)
    assert error["param"] == param
    assert re.search(pattern, str(error["message"]))


def test_no_file_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/audio/transcriptions", body={"model": "whisper-1"}, cast_to=object)
    assert _error(caught)["param"] == "file"
