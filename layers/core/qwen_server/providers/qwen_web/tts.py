"""Speech on a web account, as the web app reads an answer aloud.

The web app only speaks assistant messages, so: a short turn gives an assistant message id, the message's
content is replaced by the text to speak, then `/api/v2/tts/completions` streams it as SSE frames whose
`choices[0].delta.tts` is base64 s16le PCM at 24 kHz mono, ending with `status: "finished"`. The web API
has no known voice field, so the voice is the web app's own. The chat is deleted afterwards.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import UpstreamError
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account
from qwen_server.providers.http import drain
from qwen_server.providers.qwen_web import protocol, wire
from qwen_server.providers.qwen_web.provider import QwenWebProvider

# from `protocol.json` (patched by QWEN_PROTOCOL_OVERRIDES), read when the process starts
TTS_PATH = protocol.current().path("tts")
MESSAGE_PATH = protocol.current().data["paths"]["chat_message"]
TURN_MODEL = "qwen3-max"  # any chat model the account has: the turn only provides a message to speak
TURN_PROMPT = "Reply with the single word OK."  # short, so the turn costs little and answers fast


def message_body(text: str) -> dict[str, Any]:
    return {
        "content_list": [
            {
                "content": text,
                "phase": "answer",
                "status": "finished",
                "extra": None,
                "role": "assistant",
                "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
            }
        ]
    }


def tts_body(chat_id: str, message_id: str, now: float | None = None) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "timestamp": int(time.time() if now is None else now),
        "messages": [{"id": message_id, "role": "assistant", "sub_chat_type": "tts"}],
    }


def pcm_of(payload: dict[str, Any]) -> tuple[bytes, bool]:
    """(PCM bytes, finished) of one TTS frame; raises on an in-stream error."""
    fields = wire.error_fields(payload)
    if fields is not None:
        raise wire.classify_code(*fields)
    pcm, finished = b"", False
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        data = delta.get("tts")
        if isinstance(data, str) and data:
            try:
                pcm += base64.b64decode(data, validate=True)
            except binascii.Error:
                raise UpstreamError("the upstream sent a speech frame that is not base64") from None
        finished = finished or delta.get("status") == "finished"
    return pcm, finished


async def speak(provider: QwenWebProvider, account: Account, text: str) -> AsyncIterator[bytes]:
    """The PCM of `text`, piece by piece as the upstream sends it."""
    model = TURN_MODEL if not account.models or TURN_MODEL in account.models else account.models[0]
    chat_id = await provider._new_chat(account, model)
    try:
        message_id = await _turn(provider, account, chat_id, model)
        await provider._call_json(
            account, "POST", MESSAGE_PATH.format(chat_id=chat_id, message_id=message_id), message_body(text)
        )
        async for pcm in _tts(provider, account, chat_id, message_id):
            yield pcm
    finally:
        if provider._delete_chats:
            provider._spawn_delete(account, chat_id)


async def _turn(provider: QwenWebProvider, account: Account, chat_id: str, model: str) -> str:
    """Run one turn to its end; its assistant message id (`response.created`)."""
    body = wire.completion_body(
        chat_id=chat_id, model=model, content=TURN_PROMPT, thinking=False, thinking_budget=None
    )
    state = wire.StreamState()
    path = f"{wire.COMPLETIONS_PATH}?chat_id={chat_id}"
    async with aclosing(_stream(provider, account, path, body, chat_id)) as payloads:
        async for payload in payloads:
            wire.parse_event(payload, state)
            if state.answer_finished:
                break
    if not state.response_id:
        raise UpstreamError("the upstream's turn gave no assistant message id to speak")
    return state.response_id


async def _tts(
    provider: QwenWebProvider, account: Account, chat_id: str, message_id: str
) -> AsyncIterator[bytes]:
    path = f"{TTS_PATH}?chat_id={chat_id}"
    async with aclosing(_stream(provider, account, path, tts_body(chat_id, message_id), chat_id)) as payloads:
        async for payload in payloads:
            pcm, finished = pcm_of(payload)
            if pcm:
                yield pcm
            if finished:
                return


async def _stream(
    provider: QwenWebProvider, account: Account, path: str, body: dict[str, Any], chat_id: str
) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON objects of an SSE answer, with the one re-login a 401 allows."""
    client = provider._clients.get(account.base_url)
    content = orjson.dumps(body)
    for attempt in (0, 1):
        token = await provider._tokens.token(account, client)
        response = await client.open(
            "POST",
            account.base_url + path,
            content=content,
            headers=provider._headers(account, token, chat_id, stream=True),
        )
        try:
            if response.status == 401 and attempt == 0:
                await provider._tokens.invalidate(account, token)
                continue
            if response.status >= 400 or "event-stream" not in response.headers.get("content-type", ""):
                raw = await response.read()
                if response.status < 400:
                    payload = _json(raw)
                    if payload is not None:
                        fields = wire.error_fields(payload)
                        if fields is not None:
                            raise wire.classify_code(*fields)
                    raise UpstreamError("the qwen upstream answered without a stream")
                raise wire.classify_response(response.status, raw, response.headers)
            parser = SSEParser()
            chunks = response.chunks()
            async for piece in chunks:
                for sse in parser.feed(piece):
                    payload = _json(sse.data.encode())
                    if payload is not None:
                        yield payload
            await drain(chunks)
            return
        finally:
            await cleanup.complete(response.close())
    raise UpstreamError(f"account {account.name}: refused (HTTP 401) after a fresh sign-in")


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
