"""Images, documents, audio and long prompts reach the model: both SDKs → the gateway process → the emulator
process, which checks every upload's OSS signature and answers with the sha256 of each file it was given.

A local file server (`media_server.py`, on the fetcher's allowlist) serves the http(s) URLs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.media_server import PDF, PNG, media_server
from tests.processes import Service, directive, emulator_accounts, start_emulator, start_gateway

VISION = "qwen3.7-plus"  # the emulator lists it with vision, audio, video and documents
TEXT_ONLY = "qwen3-max"  # the emulator lists it with documents only
WAV = b"RIFF" + (36 + 800).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + bytes(804)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@pytest.fixture(scope="module")
def files() -> Iterator[tuple[str, list[str]]]:
    with media_server() as served:
        yield served


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "11", accounts=1)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(emulator: Service, files: tuple[str, list[str]]) -> Iterator[Service]:
    host = files[0].removeprefix("http://")
    service = start_gateway({"FETCH_ALLOWED_HOSTS": host}, accounts=emulator_accounts(emulator, 1))
    yield service
    service.stop()


@pytest.fixture
def oai(gateway: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)


@pytest.fixture
def claude(gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)


def uploads(emulator: Service) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{emulator.url}/_emulator/files", timeout=30).json()
    return body


def counts(emulator: Service) -> dict[str, int]:
    result: dict[str, int] = uploads(emulator)["accounts"]["user0@emulator.local"]
    return result


def ask(oai: openai.OpenAI, *parts: dict[str, Any], model: str = VISION) -> str:
    answer = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": list(parts)}])
    return answer.choices[0].message.content or ""


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def refusal(call: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value


# ---- what reaches the model ---------------------------------------------------------------------------


def test_an_image_by_data_url_reaches_the_model_intact(oai: openai.OpenAI, emulator: Service) -> None:
    answer = ask(oai, text("what is this?"), image(data_url("image/png", PNG), detail="high"))
    assert answer.startswith("what is this?\n[image: image.png]")  # where the attachment sat
    assert f"[file image.png image/png {len(PNG)} bytes sha256={digest(PNG)}]" in answer
    stored = [f for f in uploads(emulator)["files"] if f["sha256"] == digest(PNG)]
    assert stored and stored[0]["filetype"] == "image" and stored[0]["content_type"] == "image/png"


def test_an_image_by_http_url_is_fetched_by_the_gateway(
    oai: openai.OpenAI, files: tuple[str, list[str]]
) -> None:
    base, hits = files
    answer = ask(oai, text("and this?"), image(f"{base}/cat.png"))
    assert f"sha256={digest(PNG)}]" in answer and "/cat.png" in hits


def test_anthropic_image_and_pdf_document(claude: anthropic.Anthropic, emulator: Service) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(300)
    before = counts(emulator).get("parses", 0)
    message = claude.messages.create(
        model=VISION,
        max_tokens=512,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/jpeg",
                            "data": base64.b64encode(jpeg).decode(),
                        },
                    },
                    {
                        "type": "document",
                        "title": "report.pdf",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": base64.b64encode(PDF).decode(),
                        },
                    },
                    {"type": "text", "text": "Summarise."},
                ],
            }
        ],
    )
    answer = message.content[0].text  # type: ignore[union-attr]
    assert f"image/jpeg {len(jpeg)} bytes sha256={digest(jpeg)}]" in answer
    assert f"[file report.pdf application/pdf {len(PDF)} bytes sha256={digest(PDF)}]" in answer
    assert counts(emulator)["parses"] == before + 1  # the document was parsed before the turn was sent


def test_anthropic_document_by_url(claude: anthropic.Anthropic, files: tuple[str, list[str]]) -> None:
    message = claude.messages.create(
        model=VISION,
        max_tokens=512,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "url", "url": f"{files[0]}/doc.pdf"}},
                    {"type": "text", "text": "What does it say?"},
                ],
            }
        ],
    )
    assert f"sha256={digest(PDF)}]" in message.content[0].text  # type: ignore[union-attr]


def test_openai_file_part_audio_and_video_input(oai: openai.OpenAI) -> None:
    notes = b"plain text notes\n" * 10
    answer = ask(
        oai,
        text("read"),
        {"type": "file", "file": {"filename": "notes.txt", "file_data": data_url("text/plain", notes)}},
        model=TEXT_ONLY,
    )
    assert f"[file notes.txt text/plain {len(notes)} bytes sha256={digest(notes)}]" in answer
    answer = ask(
        oai,
        text("transcribe"),
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"}},
    )
    assert f"audio/wav {len(WAV)} bytes sha256={digest(WAV)}]" in answer
    mp4 = bytes(4) + b"ftypisom" + bytes(500)
    answer = ask(oai, text("watch"), {"type": "video_url", "video_url": {"url": data_url("video/mp4", mp4)}})
    assert f"[file video.mp4 video/mp4 {len(mp4)} bytes sha256={digest(mp4)}]" in answer


def test_a_200k_character_prompt_goes_up_as_a_document(oai: openai.OpenAI, emulator: Service) -> None:
    prompt = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(4000))
    prompt += "Now count the foxes."
    assert len(prompt) > 200_000
    answer = oai.chat.completions.create(model=TEXT_ONLY, messages=[{"role": "user", "content": prompt}])
    text_out = answer.choices[0].message.content or ""
    assert "attached file conversation.txt" in text_out and text_out.count("Now count the foxes.") == 1
    assert (
        f"[file conversation.txt text/plain {len(prompt.encode())} bytes sha256={digest(prompt.encode())}]"
        in text_out
    )


def test_the_same_bytes_are_uploaded_once_per_account(oai: openai.OpenAI, emulator: Service) -> None:
    png = PNG + b"reuse"
    before = counts(emulator)
    first = ask(oai, text("one"), image(data_url("image/png", png)))
    second = ask(oai, text("two"), image(data_url("image/png", png)))
    after = counts(emulator)
    assert f"sha256={digest(png)}]" in first and f"sha256={digest(png)}]" in second
    assert after["sts"] == before.get("sts", 0) + 1 and after["puts"] == before.get("puts", 0) + 1


# ---- refusals: 400 naming the part, nothing uploaded ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/cat.png",
        "http://[::1]/cat.png",
        "http://[::ffff:127.0.0.1]/cat.png",
        "file:///etc/passwd",
        "ftp://example.com/cat.png",
    ],
)
def test_private_and_non_http_urls_are_refused(oai: openai.OpenAI, emulator: Service, url: str) -> None:
    before = counts(emulator)
    error = refusal(lambda: ask(oai, text("look"), image(url)))
    assert error.body["param"] == "messages.0.content.1.image_url.url"  # type: ignore[index]
    assert error.body["code"] == "media_url_refused"  # type: ignore[index]
    assert counts(emulator) == before


def test_a_name_that_resolves_to_loopback_is_refused(
    oai: openai.OpenAI, files: tuple[str, list[str]]
) -> None:
    port = files[0].rpartition(":")[2]
    error = refusal(lambda: ask(oai, image(f"http://localhost:{port}/cat.png")))
    assert "loopback" in error.body["message"]  # type: ignore[index]
    assert error.body["param"] == "messages.0.content.0.image_url.url"  # type: ignore[index]


def test_every_redirect_is_checked_again(oai: openai.OpenAI, files: tuple[str, list[str]]) -> None:
    base, hits = files
    port = base.rpartition(":")[2]
    error = refusal(lambda: ask(oai, image(f"{base}/redirect?to=http://localhost:{port}/cat.png")))
    assert error.body["code"] == "media_url_refused"  # type: ignore[index]
    assert "/redirect" in hits
    ok = ask(oai, image(f"{base}/redirect?to={base}/cat.png"))
    assert f"sha256={digest(PNG)}]" in ok


@pytest.mark.parametrize("path", ["/big.png", "/chunked-big.png"])
def test_an_oversized_download_is_refused(
    oai: openai.OpenAI, files: tuple[str, list[str]], path: str
) -> None:
    error = refusal(lambda: ask(oai, image(files[0] + path)))
    assert error.body["code"] == "media_too_large"  # type: ignore[index]
    assert "20 MB" in error.body["message"]  # type: ignore[index]


def test_a_model_without_vision_names_the_models_with_it(
    oai: openai.OpenAI, claude: anthropic.Anthropic, emulator: Service
) -> None:
    before = counts(emulator)
    error = refusal(lambda: ask(oai, image(data_url("image/png", PNG)), model=TEXT_ONLY))
    assert error.body["code"] == "unsupported_media_for_model"  # type: ignore[index]
    assert f"`{TEXT_ONLY}` does not accept images" in error.body["message"]  # type: ignore[index]
    assert VISION in error.body["message"]  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=TEXT_ONLY,
            max_tokens=64,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(PNG).decode(),
                            },
                        }
                    ],
                }
            ],
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert VISION in caught.value.body["error"]["message"]  # type: ignore[index]
    assert counts(emulator) == before


def test_too_many_images_and_forbidden_mixes(oai: openai.OpenAI, emulator: Service) -> None:
    before = counts(emulator)
    six = [image(data_url("image/png", PNG + bytes([i]))) for i in range(6)]
    error = refusal(lambda: ask(oai, text("all of these"), *six))
    assert error.body["code"] == "too_many_media" and "at most 5 images" in error.body["message"]  # type: ignore[index]
    audio = {"type": "input_audio", "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"}}
    error = refusal(lambda: ask(oai, image(data_url("image/png", PNG)), audio))
    assert error.body["code"] == "media_mix_not_supported"  # type: ignore[index]
    two_clips = refusal(lambda: ask(oai, audio, audio))
    assert "at most 1 audio" in two_clips.body["message"]  # type: ignore[index]
    assert counts(emulator) == before  # refused before any upload


def test_wrong_bytes_unknown_file_ids_and_bad_data(oai: openai.OpenAI) -> None:
    error = refusal(lambda: ask(oai, image(data_url("image/png", PDF))))
    assert error.body["code"] == "unsupported_media_type" and "application/pdf" in error.body["message"]  # type: ignore[index]
    error = refusal(lambda: ask(oai, {"type": "file", "file": {"file_id": "file-nope"}}))
    assert error.body["code"] == "file_not_found"  # type: ignore[index]
    assert error.body["param"] == "messages.0.content.0.file.file_id"  # type: ignore[index]
    error = refusal(lambda: ask(oai, image("data:image/png;base64,@@@")))
    assert "base64" in error.body["message"]  # type: ignore[index]


def test_count_tokens_counts_media(claude: anthropic.Anthropic) -> None:
    plain = claude.messages.count_tokens(model=VISION, messages=[{"role": "user", "content": "look"}])
    with_image = claude.messages.count_tokens(
        model=VISION,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": base64.b64encode(PNG).decode(),
                        },
                    },
                ],
            }
        ],
    )
    assert with_image.input_tokens == plain.input_tokens + 1000


# ---- the long-message limit and the V1 signature fallback, against an emulator set up for them ------


@pytest.fixture(scope="module")
def strict_emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "12", "--oss-v1-only", "--max-message-chars", "100000", accounts=1)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def no_threshold_gateway(strict_emulator: Service) -> Iterator[Service]:
    service = start_gateway(
        {"LARGE_TEXT_THRESHOLD": "10000000"}, accounts=emulator_accounts(strict_emulator, 1)
    )
    yield service
    service.stop()


def test_v4_refused_falls_back_to_v1_and_an_overlong_message_is_refused_upstream(
    no_threshold_gateway: Service, strict_emulator: Service
) -> None:
    client = openai.OpenAI(base_url=f"{no_threshold_gateway.url}/v1", api_key="k", max_retries=0)
    answer = ask(client, text("v1"), image(data_url("image/png", PNG)))
    assert f"sha256={digest(PNG)}]" in answer
    seen = counts(strict_emulator)
    assert seen["puts_refused"] == 1 and seen["puts"] == 1  # V4 refused (SignatureDoesNotMatch), V1 taken
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=TEXT_ONLY, messages=[{"role": "user", "content": "x" * 150_000}])
    assert caught.value.status_code == 502 and "too long" in str(caught.value.body)


def test_a_claude_code_sized_context_with_tools_still_calls_tools(
    claude: anthropic.Anthropic, emulator: Service
) -> None:
    """A long system prompt and history plus tools go up as the conversation file; the last turn stays inline
    (here it carries the emulator's script, which answers with a tool call)."""
    call = '<tool_call>{"name": "read_file", "arguments": {"path": "src/app.py"}}</tool_call>'
    history: list[Any] = []
    for i in range(40):
        history.append({"role": "user", "content": f"step {i}: " + "context line. " * 300})
        history.append({"role": "assistant", "content": f"done with step {i}"})
    history.append({"role": "user", "content": "Open the app. " + directive(reply="Reading it.\n" + call)})
    before = counts(emulator).get("sts", 0)
    message = claude.messages.create(
        model=TEXT_ONLY,
        max_tokens=1024,
        system="You are a coding agent. " * 2000,
        tools=[
            {
                "name": "read_file",
                "description": "Read a file",
                "input_schema": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            }
        ],
        messages=history,
    )
    assert message.stop_reason == "tool_use"
    use = [b for b in message.content if b.type == "tool_use"]
    assert use and use[0].name == "read_file" and use[0].input == {"path": "src/app.py"}  # type: ignore[union-attr]
    assert counts(emulator)["sts"] == before + 1  # the conversation file


def test_responses_api_images_and_files_reach_the_model_intact(oai: openai.OpenAI) -> None:
    """The Responses API's `input_image` and `input_file` take the same upload path as chat's parts."""
    response = oai.responses.create(
        model=VISION,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what do these show?"},
                    {"type": "input_image", "image_url": data_url("image/png", PNG), "detail": "auto"},
                    {
                        "type": "input_file",
                        "filename": "report.pdf",
                        "file_data": data_url("application/pdf", PDF),
                    },
                ],
            }
        ],
    )
    answer = response.output_text
    assert f"image/png {len(PNG)} bytes sha256={digest(PNG)}]" in answer
    assert f"[file report.pdf application/pdf {len(PDF)} bytes sha256={digest(PDF)}]" in answer
