"""POST /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations (the `media` class).

The codecs (lameenc, and PyAV where installed) are imported by `audio.codec` when a request first needs them,
never at import."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from qwen_server.api.openai.errors import openai_error_body
from qwen_server.app.access import admit, meter
from qwen_server.app.disconnect import DeadlineStreamingResponse, unless_client_leaves
from qwen_server.app.http import JSONBytes, read_body, read_json
from qwen_server.app.runtime import Runtime, runtime_of
from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, InvalidRequest, UpstreamError
from qwen_server.core.model import Event, TextDelta, Usage
from qwen_server.core.tokens import estimate_tokens
from qwen_server.files.multipart import FORM_FIELD_BYTES, MAX_FORM_FIELDS

if TYPE_CHECKING:
    from qwen_server.audio.transcribe import Task, TranscriptionRequest
    from qwen_server.providers.base import Account

log = logging.getLogger("qwen_server")
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
FORM_OVERHEAD = 2 * 1024 * 1024  # room for the form's other fields and boundaries around a full-size file


# ---- speech -------------------------------------------------------------------------------------------


async def create_speech(request: Request) -> Response:
    from qwen_server.audio import admission, catalog, codec, speech

    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = speech.parse(await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model, stream=body.sse)
    encoder = codec.Encoder(body.response_format)  # first: a format this install cannot write is a 400 now
    upstream = speech.call(runtime.gateway.providers, runtime.clients, body)

    def run(account: Account, model: str) -> AsyncIterator[bytes]:
        factor = speech.upstream_speed(account, body)
        pieces = upstream(account, model)
        return pieces if factor == 1.0 else _tempo(pieces, codec.Tempo(factor))

    pcm = admission.on_account(
        runtime.pool,
        runtime.gateway.scheduler,
        "media",
        tenant,
        body.upstream_model,
        catalog.speech_kinds(),
        run,
        first_byte_timeout=runtime.settings.upstream_first_byte_timeout,
    )
    first = await unless_client_leaves(request, anext(pcm, None))
    if first is None:
        raise UpstreamError("The upstream answered without any audio")
    if body.sse:
        return DeadlineStreamingResponse(
            _speech_sse(first, pcm, encoder, estimate_tokens(body.input)),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
            write_timeout=runtime.settings.stream_write_timeout,
        )
    return DeadlineStreamingResponse(
        _speech_audio(first, pcm, encoder),
        media_type=codec.MEDIA_TYPES[body.response_format],
        write_timeout=runtime.settings.stream_write_timeout,
    )


async def _tempo(pieces: AsyncIterator[bytes], tempo: object) -> AsyncIterator[bytes]:
    """The upstream's PCM at another speed. The filter gives back nothing for speech shorter than its window
    (one character at 3x): such a clip is sent as it came, rather than no audio at all."""
    from qwen_server.audio.codec import Tempo

    assert isinstance(tempo, Tempo)
    unchanged: list[bytes] | None = []  # what came in while nothing went out (a short clip; None after)
    try:
        async for piece in pieces:
            out = tempo.feed(piece)
            if unchanged is not None:
                unchanged.append(piece)
            if out:
                unchanged = None
                yield out
        tail = tempo.close()
        if tail:
            yield tail
        elif unchanged:
            yield b"".join(unchanged)
    finally:
        await cleanup.complete(pieces.aclose())  # type: ignore[attr-defined]


async def _speech_audio(first: bytes, pcm: AsyncIterator[bytes], encoder: object) -> AsyncIterator[bytes]:
    """The encoded audio as it is produced. A failure after the first byte can only end the stream early."""
    from qwen_server.audio.codec import Encoder

    assert isinstance(encoder, Encoder)
    try:
        out = encoder.feed(first)
        if out:
            yield out
        async for piece in pcm:
            out = encoder.feed(piece)
            if out:
                yield out
        yield encoder.close()
    except GatewayError as exc:
        log.warning("speech stream cut short after its first byte: %s", exc.message)
    finally:
        await cleanup.complete(pcm.aclose())  # type: ignore[attr-defined]


async def _speech_sse(
    first: bytes, pcm: AsyncIterator[bytes], encoder: object, input_tokens: int
) -> AsyncIterator[bytes]:
    """`speech.audio.delta` events (base64 of the encoded audio), then `speech.audio.done` with usage."""
    from qwen_server.audio.codec import Encoder

    assert isinstance(encoder, Encoder)

    def delta(data: bytes) -> bytes:
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}
        return b"data: " + orjson.dumps(event) + b"\n\n"

    try:
        out = encoder.feed(first)
        if out:
            yield delta(out)
        async for piece in pcm:
            out = encoder.feed(piece)
            if out:
                yield delta(out)
        out = encoder.close()
        if out:
            yield delta(out)
        usage = {"input_tokens": input_tokens, "output_tokens": 0, "total_tokens": input_tokens}
        yield b"data: " + orjson.dumps({"type": "speech.audio.done", "usage": usage}) + b"\n\n"
    except GatewayError as exc:
        yield b"data: " + orjson.dumps({"type": "error", **openai_error_body(exc)}) + b"\n\n"
    finally:
        await cleanup.complete(pcm.aclose())  # type: ignore[attr-defined]


# ---- transcription and translation --------------------------------------------------------------------


async def create_transcription(request: Request) -> Response:
    return await _transcribe(request, "transcribe")


async def create_translation(request: Request) -> Response:
    return await _transcribe(request, "translate")


async def _transcribe(request: Request, task: Task) -> Response:
    from qwen_server.audio import codec, transcribe

    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    parsed = await _form(request, runtime, task)
    request.state.log.update(model=parsed.model, stream=parsed.stream)
    try:
        info = await asyncio.to_thread(codec.probe, parsed.audio)
    except codec.AudioDecodeError as exc:
        raise InvalidRequest(f"The uploaded file could not be read as audio: {exc}", param="file") from None
    neutral = transcribe.chat_request(parsed, tenant)
    if transcribe.is_asr_name(parsed.model):
        listed = await runtime.gateway.upstream_models()
        audio_models = [m.id for m in listed if "audio" in m.capabilities]
        neutral.model = transcribe.pick_model(parsed.upstream_model, runtime.pool.accounts(), audio_models)
    else:  # a chat model that takes audio, named directly
        neutral.model, _ = await runtime.gateway.resolve_model(parsed.model, neutral)
    events = meter(request, runtime, tenant, runtime.gateway.stream(neutral, cls="media"))
    first = await unless_client_leaves(request, anext(events))
    if parsed.stream:
        return DeadlineStreamingResponse(
            _transcript_sse(first, events),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
            write_timeout=runtime.settings.stream_write_timeout,
        )
    text = (await unless_client_leaves(request, _collect(first, events))).strip()
    fmt = parsed.response_format
    if fmt == "text":
        return PlainTextResponse(text + "\n" if text else "")
    if fmt == "srt":
        return PlainTextResponse(transcribe.srt(text, info.duration))
    if fmt == "vtt":
        return PlainTextResponse(transcribe.vtt(text, info.duration), media_type="text/vtt")
    if fmt == "verbose_json":
        return JSONBytes(transcribe.verbose(parsed, text, info.duration))
    return JSONBytes({"text": text})


async def _form(request: Request, runtime: Runtime, task: Task) -> TranscriptionRequest:
    from qwen_server.audio import transcribe

    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise InvalidRequest("Send the audio as multipart/form-data with a 'file' field.", param="file")
    limit = max(runtime.settings.max_request_bytes, transcribe.max_file_bytes() + FORM_OVERHEAD)
    await read_body(request, limit)
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=FORM_FIELD_BYTES)
    except (ValueError, KeyError) as exc:
        raise InvalidRequest(f"The multipart body could not be parsed: {exc}") from None
    parsed = transcribe.parse(task, form)
    upload = form["file"]
    assert isinstance(upload, UploadFile)
    transcribe.check_size(upload.size or 0)
    data = await upload.read()
    transcribe.check_size(len(data))
    return dataclasses.replace(parsed, audio=data)


async def _collect(first: Event, events: AsyncIterator[Event]) -> str:
    parts = [first.text] if isinstance(first, TextDelta) else []
    async for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return "".join(parts)


async def _transcript_sse(first: Event, events: AsyncIterator[Event]) -> AsyncIterator[bytes]:
    """`transcript.text.delta` events as the upstream writes, then `transcript.text.done` with the text."""
    parts: list[str] = []
    usage: Usage | None = None

    def frame(event: dict[str, object]) -> bytes:
        return b"data: " + orjson.dumps(event) + b"\n\n"

    try:
        pending: list[Event] = [first]
        while True:
            for event in pending:
                if isinstance(event, TextDelta) and event.text:
                    parts.append(event.text)
                    yield frame({"type": "transcript.text.delta", "delta": event.text})
                elif isinstance(event, Usage):
                    usage = event
            try:
                pending = [await anext(events)]
            except StopAsyncIteration:
                break
        done: dict[str, object] = {"type": "transcript.text.done", "text": "".join(parts).strip()}
        if usage is not None:
            done["usage"] = {
                "type": "tokens",
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            }
        yield frame(done)
    except GatewayError as exc:
        yield frame({"type": "error", **openai_error_body(exc)})
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())
