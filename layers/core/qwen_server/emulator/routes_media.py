"""The web app's read-aloud flow: an assistant message's content set by the client, then spoken by
`/api/v2/tts/completions` as SSE frames of base64 PCM (24 kHz s16le mono) ending with `status: finished`.

The speech is `media.speech_pcm` of the message's text, so a test knows its exact length."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from qwen_server.emulator import media, protocol
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

FRAME_BYTES = 9_600  # 0.2 s of PCM per SSE frame


def _message_text(body: Any) -> str | None:
    items = body.get("content_list") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    text = items[0].get("content")
    return text if isinstance(text, str) else None


def routes(state: EmulatorState) -> list[Route]:
    spoken: dict[tuple[str, str], str] = {}  # (chat id, message id) -> the text set on that message

    def owned(request: Request, chat_id: str) -> Response | None:
        account = state.authenticate(request)
        if account is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        if state.chats.get(chat_id) != account.index:
            return json_response(404, protocol.failure("Not_Found", "Chat not found"))
        return None

    async def set_message(request: Request) -> Response:
        chat_id, message_id = request.path_params["chat_id"], request.path_params["message_id"]
        refused = owned(request, chat_id)
        if refused is not None:
            return refused
        try:
            text = _message_text(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            text = None
        if text is None:
            return json_response(200, protocol.failure("Bad_Request", "content_list[0].content is required"))
        spoken[(chat_id, message_id)] = text
        return json_response(200, {"success": True, "data": {"id": message_id}})

    async def tts(request: Request) -> Response:
        chat_id = request.query_params.get("chat_id", "")
        refused = owned(request, chat_id)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.body())
            message_id = str(body["messages"][0]["id"])
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return json_response(200, protocol.failure("Bad_Request", "messages[0].id is required"))
        text = spoken.get((chat_id, message_id))
        if text is None:
            return json_response(200, protocol.failure("Not_Found", "Message not found"))
        pcm = media.speech_pcm(text)

        async def frames() -> AsyncIterator[bytes]:
            for start in range(0, len(pcm), FRAME_BYTES):
                data = base64.b64encode(pcm[start : start + FRAME_BYTES]).decode("ascii")
                yield protocol.sse({"choices": [{"delta": {"tts": data, "status": "typing"}}]})
            yield protocol.sse({"choices": [{"delta": {"tts": "", "status": "finished"}}]})

        return StreamingResponse(frames(), media_type="text/event-stream")

    return [
        Route("/api/v2/chats/{chat_id}/messages/{message_id}", set_message, methods=["POST"]),
        Route("/api/v2/tts/completions", tts, methods=["POST"]),
    ]
