"""DashScope's native speech synthesis, for `dashscope` accounts pointed at the emulator.

`POST /api/v1/services/aigc/multimodal-generation/generation` with `{"model": "qwen3-tts-flash", "input":
{"text", "voice", "language_type"}}` and a `Bearer sk-…` key. With `X-DashScope-SSE: enable` the speech
arrives as SSE frames whose `output.audio.data` is base64 PCM (24 kHz s16le mono), the last one with
`finish_reason: "stop"` and the usage; without it, one JSON answer whose `output.audio.url` is a WAV file.
The speech is `media.speech_pcm` of the text, as on the web app's read-aloud route, so a test knows its length.
"""

from __future__ import annotations

import base64
import io
import uuid
import wave
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from qwen_server.emulator import media
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

FRAME_BYTES = 9_600  # 0.2 s of PCM per SSE frame
KEPT_FILES = 64  # WAV answers kept for their URL, newest first


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})


def _text_of(body: Any) -> tuple[str, str] | str:
    """(model, text) of a valid request, else the reason it is refused."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    model, given = body.get("model"), body.get("input")
    if not isinstance(model, str) or "tts" not in model:
        return f"Model not exist: {model}"
    text = given.get("text") if isinstance(given, dict) else None
    if not isinstance(text, str) or not text.strip():
        return "input.text is required"
    return model, text


def _frame(request_id: str, audio: dict[str, Any], finish: str, usage: dict[str, int] | None = None) -> bytes:
    payload: dict[str, Any] = {"request_id": request_id, "output": {"audio": audio, "finish_reason": finish}}
    if usage is not None:
        payload["usage"] = usage
    return (
        b"id:"
        + request_id.encode()
        + b"\nevent:result\n:HTTP_STATUS/200\ndata:"
        + orjson.dumps(payload)
        + b"\n\n"
    )


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(media.PCM_RATE)
        writer.writeframes(pcm)
    return out.getvalue()


def routes(state: EmulatorState) -> list[Route]:
    files: OrderedDict[str, bytes] = OrderedDict()  # audio id -> WAV, for non-streamed answers' URLs

    async def synthesize(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer sk-"):
            return _error(401, "InvalidApiKey", "Invalid API-key provided.")
        try:
            checked = _text_of(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            checked = "the body is not JSON"
        if isinstance(checked, str):
            return _error(400, "InvalidParameter", checked)
        _, text = checked
        pcm = media.speech_pcm(text)
        request_id, audio_id = str(uuid.uuid4()), f"audio_{uuid.uuid4().hex}"
        usage = {"characters": len(text)}
        if request.headers.get("x-dashscope-sse", "").lower() != "enable":
            files[audio_id] = _wav(pcm)
            while len(files) > KEPT_FILES:
                files.popitem(last=False)
            url = f"{str(request.base_url).rstrip('/')}/_emulator/dashscope-audio/{audio_id}.wav"
            audio = {"id": audio_id, "url": url, "data": "", "expires_at": 0}
            body = {
                "request_id": request_id,
                "output": {"audio": audio, "finish_reason": "stop"},
                "usage": usage,
            }
            return json_response(200, body)

        async def frames() -> AsyncIterator[bytes]:
            for start in range(0, len(pcm), FRAME_BYTES):
                data = base64.b64encode(pcm[start : start + FRAME_BYTES]).decode("ascii")
                yield _frame(request_id, {"id": audio_id, "data": data}, "null")
            yield _frame(request_id, {"id": audio_id, "data": ""}, "stop", usage)

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def audio_file(request: Request) -> Response:
        found = files.get(request.path_params["audio_id"])
        if found is None:
            return _error(404, "NotFound", "audio not found")
        return Response(found, media_type="audio/wav")

    del state  # keys are not checked against accounts: any `sk-` key speaks, as the other DashScope routes
    return [
        Route("/api/v1/services/aigc/multimodal-generation/generation", synthesize, methods=["POST"]),
        Route("/_emulator/dashscope-audio/{audio_id}.wav", audio_file, methods=["GET"]),
    ]
