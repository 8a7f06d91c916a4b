"""`/v1/audio/speech`: the request checked, and the upstream call for each account kind.

Every kind answers PCM (24 kHz s16le mono) to the gateway, which encodes it (`codec.Encoder`) as it
arrives: web accounts through the web app's read-aloud flow (`providers/qwen_web/tts.py`), DashScope
through `qwen3-tts-flash` on its native API with SSE, OpenAI-compatible accounts through their own
`/audio/speech` asked for `pcm`, so the format, streaming and SSE framing are the gateway's alike for all.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson

from qwen_server.audio import catalog
from qwen_server.audio.codec import FORMATS
from qwen_server.core import cleanup
from qwen_server.core.errors import InvalidRequest, UpstreamError
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account, Provider
from qwen_server.providers.http import ClientRegistry, drain
from qwen_server.providers.openai_errors import classify

SPEED_RANGE = (0.25, 4.0)
DASHSCOPE_TTS_PATH = "/services/aigc/multimodal-generation/generation"


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    model: str
    upstream_model: str
    input: str
    voice: catalog.Voice
    response_format: str
    speed: float
    instructions: str | None
    sse: bool


def parse(body: dict[str, Any]) -> SpeechRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("'input' must be a non-empty string.", param="input")
    limit = int(catalog.table()["speech"]["max_input_chars"])
    if len(text) > limit:
        raise InvalidRequest(
            f"'input' is {len(text)} characters; the limit is {limit}.",
            param="input",
            code="string_above_max_length",
        )
    voice_name = body.get("voice")
    if voice_name is not None and not isinstance(voice_name, str):
        raise InvalidRequest("'voice' must be a voice name.", param="voice")
    fmt = body.get("response_format") or "mp3"
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"Unsupported response_format {fmt!r}; use one of {', '.join(FORMATS)}.", param="response_format"
        )
    speed = body.get("speed", 1.0)
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]
    ):
        raise InvalidRequest(
            f"'speed' must be a number from {SPEED_RANGE[0]} to {SPEED_RANGE[1]}.", param="speed"
        )
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequest("'instructions' must be a string.", param="instructions")
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise InvalidRequest("'stream_format' must be 'audio' or 'sse'.", param="stream_format")
    return SpeechRequest(
        model=model,
        upstream_model=catalog.model_for("speech", model),
        input=text,
        voice=catalog.voice(voice_name),
        response_format=fmt,
        speed=float(speed),
        instructions=instructions or None,
        sse=stream_format == "sse",
    )


def upstream_speed(account: Account, request: SpeechRequest) -> float:
    """The speed the gateway still has to apply: OpenAI-compatible upstreams take `speed` themselves."""
    return 1.0 if account.kind == "openai" else request.speed


def call(
    providers: dict[str, Provider], clients: ClientRegistry, request: SpeechRequest
) -> Callable[[Account, str], AsyncIterator[bytes]]:
    """The upstream call for `admission.on_account`: PCM pieces of the spoken input."""

    def run(account: Account, model: str) -> AsyncIterator[bytes]:
        if account.kind == "qwen-web":
            from qwen_server.providers.qwen_web.provider import QwenWebProvider
            from qwen_server.providers.qwen_web.tts import speak

            provider = providers["qwen-web"]
            assert isinstance(provider, QwenWebProvider)
            return speak(provider, account, request.input)
        if account.kind == "dashscope":
            return _dashscope(clients, account, model, request)
        return _passthrough(clients, account, model, request)

    return run


def native_base(base_url: str) -> str:
    """DashScope's native API beside its OpenAI-compatible one (`…/compatible-mode/v1` → `…/api/v1`)."""
    root = base_url.rstrip("/")
    for suffix in ("/compatible-mode/v1", "/v1"):
        if root.endswith(suffix):
            return root[: -len(suffix)] + "/api/v1"
    return root + "/api/v1"


def _headers(account: Account, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json", **extra}


async def _dashscope(
    clients: ClientRegistry, account: Account, model: str, request: SpeechRequest
) -> AsyncIterator[bytes]:
    """`qwen3-tts-flash` with `X-DashScope-SSE: enable`: base64 PCM in `output.audio.data` pieces."""
    body = {
        "model": model,
        "input": {"text": request.input, "voice": request.voice.qwen, "language_type": "Auto"},
    }
    client = clients.get(account.base_url)
    response = await client.open(
        "POST",
        native_base(account.base_url) + DASHSCOPE_TTS_PATH,
        content=orjson.dumps(body),
        headers=_headers(account, **{"X-DashScope-SSE": "enable"}),
    )
    try:
        if response.status >= 400:
            raise classify(response.status, await response.read(), response.headers)
        parser = SSEParser()
        chunks = response.chunks()
        async for piece in chunks:
            for sse in parser.feed(piece):
                pcm, finished = _dashscope_frame(sse.data)
                if pcm:
                    yield pcm
                if finished:
                    await drain(chunks)
                    return
    finally:
        await cleanup.complete(response.close())


def _dashscope_frame(data: str) -> tuple[bytes, bool]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return b"", False
    if not isinstance(payload, dict):
        return b"", False
    if payload.get("code") and not payload.get("output"):
        raise classify(
            400, orjson.dumps({"error": {"code": payload["code"], "message": payload.get("message")}}), {}
        )
    output = payload.get("output") or {}
    audio = output.get("audio") or {}
    pcm = b""
    if isinstance(audio.get("data"), str) and audio["data"]:
        try:
            pcm = base64.b64decode(audio["data"], validate=True)
        except binascii.Error:
            raise UpstreamError("DashScope sent a speech frame that is not base64") from None
    return pcm, output.get("finish_reason") == "stop"


async def _passthrough(
    clients: ClientRegistry, account: Account, model: str, request: SpeechRequest
) -> AsyncIterator[bytes]:
    """The upstream's own `/audio/speech`, asked for raw PCM (the gateway encodes)."""
    body: dict[str, Any] = {
        "model": model,
        "input": request.input,
        "voice": request.voice.passthrough,
        "response_format": "pcm",
        "speed": request.speed,
    }
    if request.instructions:
        body["instructions"] = request.instructions
    client = clients.get(account.base_url)
    response = await client.open(
        "POST", f"{account.base_url}/audio/speech", content=orjson.dumps(body), headers=_headers(account)
    )
    try:
        if response.status >= 400:
            raise classify(response.status, await response.read(), response.headers)
        async with aclosing(response.chunks()) as chunks:  # type: ignore[type-var]
            async for piece in chunks:
                if piece:
                    yield piece
    finally:
        await cleanup.complete(response.close())
