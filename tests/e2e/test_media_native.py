"""`openai` and `dashscope` accounts get media as native content parts, never flattened to text.

The gateway process's only account points at `tests/fake_openai_upstream.py` (its own process), which
records every body it receives. Client URLs are read by the gateway's guarded fetcher and sent on as data:
URLs, so the upstream never fetches a client-given address.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.media_server import PDF, PNG, media_server
from tests.processes import Service, start_gateway, start_recording_openai

OMNI = "qwen3-omni-flash"  # the catalogue marks it for images, audio, video and documents
WAV = b"RIFF" + (36 + 800).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + bytes(804)
MP4 = bytes(4) + b"ftypisom" + bytes(200)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{b64(data)}"


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    with media_server() as (base, _):
        yield base


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_recording_openai()
    yield service
    service.stop()


@pytest.fixture(scope="module", params=["openai", "dashscope"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def client(upstream: Service, kind: str, files: str) -> Iterator[openai.OpenAI]:
    account = {
        "kind": kind,
        "base_url": f"{upstream.url}/v1",
        "api_key": "sk-fake",
        "models": [OMNI, "qwen-plus"],
    }
    service = start_gateway({"FETCH_ALLOWED_HOSTS": files.removeprefix("http://")}, accounts=[account])
    yield openai.OpenAI(base_url=f"{service.url}/v1", api_key="k", max_retries=0)
    service.stop()


def last_content(upstream: Service) -> list[dict[str, Any]]:
    received = httpx.get(f"{upstream.url}/_fake/requests", timeout=30).json()
    content: list[dict[str, Any]] = received[-1]["messages"][-1]["content"]
    return content


def test_every_medium_goes_as_a_native_part(
    client: openai.OpenAI, upstream: Service, kind: str, files: str
) -> None:
    notes = b"meeting notes\n"
    answer = client.chat.completions.create(
        model=OMNI,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": data_url("image/png", PNG), "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": f"{files}/cat.png"}},
                    {
                        "type": "file",
                        "file": {"filename": "a.pdf", "file_data": data_url("application/pdf", PDF)},
                    },
                    {
                        "type": "file",
                        "file": {"filename": "notes.txt", "file_data": data_url("text/plain", notes)},
                    },
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == "ok"
    content = last_content(upstream)
    assert content[0] == {"type": "text", "text": "look"}
    assert content[1] == {
        "type": "image_url",
        "image_url": {"url": data_url("image/png", PNG), "detail": "low"},
    }
    # the URL was read by the gateway: the upstream gets the bytes, never the client's address
    assert content[2] == {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}}
    assert content[3] == {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": data_url("application/pdf", PDF)},
    }
    assert content[4] == {"type": "text", "text": notes.decode()}


def test_audio_and_video_parts(client: openai.OpenAI, upstream: Service, kind: str) -> None:
    client.chat.completions.create(
        model=OMNI,
        messages=[
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}}],
            }
        ],
    )
    audio = last_content(upstream)[0]
    # OpenAI reads bare base64 with a format; DashScope a data: URL
    expected = b64(WAV) if kind == "openai" else data_url("audio/wav", WAV)
    assert audio == {"type": "input_audio", "input_audio": {"data": expected, "format": "wav"}}
    client.chat.completions.create(
        model=OMNI,
        messages=[
            {
                "role": "user",
                "content": [{"type": "video_url", "video_url": {"url": data_url("video/mp4", MP4)}}],
            }
        ],  # type: ignore[list-item]
    )
    assert last_content(upstream)[0] == {
        "type": "video_url",
        "video_url": {"url": data_url("video/mp4", MP4)},
    }


def test_the_catalogue_refuses_audio_for_a_model_without_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="qwen-plus",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}}],
                }
            ],
        )
    body: Any = caught.value.body
    assert body["code"] == "unsupported_media_for_model" and OMNI in body["message"]
    assert body["param"] == "messages.0.content.0.input_audio.data"
