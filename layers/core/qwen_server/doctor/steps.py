"""The doctor's steps, as data: one `Step` per protocol step the gateway uses, in order.

A step returns what came back when it worked and raises `Failure` otherwise. `needs` names earlier steps it
builds on (it is not tried when one failed); `media` steps spend the account's media quota, so they run only
when `--media` names them. A flow added later is one more function and one more row in `STEPS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from qwen_server.core.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBlocked,
    UpstreamClientOutdated,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from qwen_server.core.model import ChatRequest, Message, TextDelta, TextPart, ThinkingDelta
from qwen_server.core.sse import SSEParser
from qwen_server.doctor.context import Answer, Context
from qwen_server.doctor.observe import Failure, check, json_of
from qwen_server.providers.qwen_web import media_wire, oss_sign, wire
from qwen_server.providers.qwen_web import tts as tts_flow
from qwen_server.providers.qwen_web.auth import token_from_response
from qwen_server.providers.qwen_web.upload import KINDS
from qwen_server.providers.transport import Reply

PROMPT = "Reply with exactly one word: pong"
WEB = frozenset({"qwen-web"})
COMPAT = frozenset({"openai", "dashscope"})
UPLOAD_BYTES = b"qwen-server doctor upload check\n"
MEDIA_PROMPT = "a small red circle on white"
VIDEO_POLL_MAX = 5.0  # seconds between task status reads, at most (the web app reads every 10 s)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    run: Callable[[Context], Awaitable[str]]
    kinds: frozenset[str] = WEB
    needs: tuple[str, ...] = ()
    media: bool = False
    applies: Callable[[Context], str | None] = lambda ctx: None  # a reason it does not apply, or None


# ---- qwen-web ----------------------------------------------------------------------------------------
def _has_password(ctx: Context) -> str | None:
    if ctx.account.email and ctx.account.password:
        return None
    return "the account gives a token or a browser session, not a password"


async def signin(ctx: Context) -> str:
    account = ctx.account
    hashed = hashlib.sha256(str(account.password).encode()).hexdigest()
    answer = await ctx.call("POST", ctx.path("signin"), wire.signin_body(str(account.email), hashed))
    check(answer.status, answer.headers, answer.body)
    reply = Reply(answer.status, answer.headers, answer.body, _set_cookies(answer))
    token = token_from_response(reply)
    if not token:
        raise Failure("signed in, but no token came back", "no_token", answer.status)
    if ctx.token is None:  # a browser session's token stays the one in use, as in the gateway
        ctx.token = token
    return "token received"


def _set_cookies(answer: Answer) -> list[str]:
    value = answer.headers.get("set-cookie")
    return [value] if value else []


async def token_check(ctx: Context) -> str:
    if not ctx.token:
        raise Failure("no token to check", "no_token")
    answer = await ctx.call("GET", ctx.path("whoami"))
    payload = check(answer.status, answer.headers, answer.body)
    if not isinstance(payload, dict) or not (payload.get("id") or payload.get("email")):
        raise Failure("an answer without the account record", "unexpected", answer.status)
    return "token accepted"


async def models(ctx: Context) -> str:
    answer = await ctx.call("GET", ctx.path("models"))
    payload = check(answer.status, answer.headers, answer.body)
    items = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise Failure("a model list without `data`", "unexpected", answer.status)
    ids = {str(m.get("id")) for m in items if isinstance(m, dict)}
    listed = "listed" if ctx.model in ids else "NOT listed"
    return f"{len(ids)} models; {ctx.model} {listed}"


async def _new_chat(ctx: Context, chat_type: str = "t2t") -> str:
    answer = await ctx.call("POST", ctx.path("new_chat"), wire.new_chat_body(ctx.model, chat_type))
    payload = check(answer.status, answer.headers, answer.body, write=True)
    data = payload.get("data") if isinstance(payload, dict) else None
    chat_id = data.get("id") if isinstance(data, dict) else None
    if not chat_id:
        raise Failure("no chat id in the answer", "unexpected", answer.status)
    ctx.chats.append(str(chat_id))
    return str(chat_id)


async def new_chat(ctx: Context) -> str:
    ctx.chat_id = await _new_chat(ctx)
    return "chat created"


def _sse_payloads(answer: Answer) -> list[dict[str, Any]]:
    """The JSON objects of an SSE body; a JSON (not SSE) answer is read as an error or a surprise."""
    if "event-stream" not in answer.headers.get("content-type", ""):
        check(answer.status, answer.headers, answer.body, write=True)
        raise Failure("a JSON answer where a stream was due", "unexpected", answer.status)
    parser = SSEParser()
    events = [*parser.feed(answer.body), *parser.close()]
    payloads: list[dict[str, Any]] = []
    for event in events:
        try:
            loaded = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(loaded, dict):
            payloads.append(loaded)
    return payloads


def _failure_of(error: GatewayError, status: int | None) -> Failure:
    kinds: list[tuple[type[GatewayError], str]] = [
        (UpstreamBlocked, "waf_code"),
        (UpstreamClientOutdated, "client_outdated"),
        (UpstreamRateLimited, "rate_limited"),
        (UpstreamAuthError, "unauthorized"),
        (UpstreamForbidden, "unauthorized"),
        (UpstreamModelNotFound, "model"),
        (UpstreamTimeout, "timeout"),
    ]
    kind = next((k for cls, k in kinds if isinstance(error, cls)), "server")
    shown = getattr(error, "diagnosis", None)
    if isinstance(error, UpstreamClientOutdated):
        return Failure(f"refused as too old: {error.upstream[:80]}", kind, status)
    return Failure(shown.describe() if shown else error.message[:120], kind, status)


async def _complete(ctx: Context, thinking: bool) -> str:
    chat_id = await _new_chat(ctx)
    body = wire.completion_body(
        chat_id=chat_id,
        model=ctx.model,
        content=PROMPT,
        thinking=thinking,
        thinking_budget=1024 if thinking else None,
    )
    answer = await ctx.call(
        "POST", ctx.path("completions"), body, chat_id=chat_id, stream=True, query=f"chat_id={chat_id}"
    )
    if answer.status >= 400:
        check(answer.status, answer.headers, answer.body, write=True)
    state = wire.StreamState()
    text, thought = "", ""
    try:
        for payload in _sse_payloads(answer):
            for event in wire.parse_event(payload, state):
                if isinstance(event, TextDelta):
                    text += event.text
                elif isinstance(event, ThinkingDelta):
                    thought += event.text
    except GatewayError as exc:
        raise _failure_of(exc, answer.status) from None
    if not text.strip():
        raise Failure("a stream without answer text", "unexpected", answer.status)
    ctx.chat_id, ctx.response_id = chat_id, state.response_id
    word = " ".join(text.split())[:24]
    if thinking:
        return f'answered "{word}"; ' + ("think phase seen" if thought else "no think phase (model may not think)")
    return f'answered "{word}"'


async def completion(ctx: Context) -> str:
    return await _complete(ctx, thinking=False)


async def completion_thinking(ctx: Context) -> str:
    return await _complete(ctx, thinking=True)


async def upload(ctx: Context) -> str:
    """What the gateway does with a long prompt: getstsToken for a `.txt` document, the signed storage PUT
    (V4, then V1 when the storage refuses the V4 signature), then the document parse and its status."""
    spec = KINDS["document"]
    request = {"filename": "doctor.txt", "filesize": len(UPLOAD_BYTES), "filetype": spec.filetype}
    answer = await ctx.call("POST", ctx.path("sts_token"), request)
    if answer.status == 404:
        raise Failure("HTTP 404: no getstsToken endpoint", "not_built", answer.status)
    payload = check(answer.status, answer.headers, answer.body)
    data = payload.get("data") if isinstance(payload, dict) else None
    needed = ("access_key_id", "access_key_secret", "security_token", "file_url", "file_path", "file_id")
    if not isinstance(data, dict) or any(not data.get(k) for k in needed):
        raise Failure("STS answer without credentials or file_url", "unexpected", answer.status)
    target = oss_sign.UploadTarget.from_sts(data)
    signed: Literal["V4", "V1"] = "V4"
    put = await ctx.put(target.url, target.headers(signed, "text/plain"), UPLOAD_BYTES)
    if oss_sign.refused_signature(put.status, put.body):
        signed = "V1"
        put = await ctx.put(target.url, target.headers(signed, "text/plain"), UPLOAD_BYTES)
    if put.status >= 300:
        shown = oss_sign.error_code(put.body) or f"HTTP {put.status}"
        raise Failure(f"storage PUT refused: {shown}", "unexpected", put.status)
    file_id = str(data["file_id"])
    parsed = await ctx.call("POST", ctx.path("file_parse"), {"file_id": file_id})
    check(parsed.status, parsed.headers, parsed.body)
    for _ in range(20):
        polled = await ctx.call("POST", ctx.path("file_parse_status"), {"file_id_list": [file_id]})
        rows = check(polled.status, polled.headers, polled.body).get("data")
        status = rows[0].get("status") if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None
        if status == "success":
            return f"{len(UPLOAD_BYTES)} bytes uploaded ({signed} signature) and parsed"
        if status not in ("running", "pending", None):
            raise Failure(f"document parse {status}", "unexpected", polled.status)
        await asyncio.sleep(0.25)
    raise Failure("document parse still running after 5 s", "timeout", ctx.last[0])


def _media_body(ctx: Context, chat_id: str, chat_type: str) -> dict[str, Any]:
    """The turn the gateway's own image / video flow sends (`media_wire.media_body`)."""
    ratio = "16:9" if chat_type == "t2v" else "1:1"
    return media_wire.media_body(
        chat_id=chat_id, model=ctx.model, prompt=MEDIA_PROMPT, chat_type=chat_type, ratio=ratio
    )


async def _media_turn(ctx: Context, chat_type: str) -> Answer:
    chat_id = await _new_chat(ctx, chat_type)
    body = _media_body(ctx, chat_id, chat_type)
    stream = bool(body["stream"])
    return await ctx.call(
        "POST", ctx.path("completions"), body, chat_id=chat_id, stream=stream, query=f"chat_id={chat_id}"
    )


def _media_refusal(answer: Answer) -> None:
    """A JSON error answer to a media turn, read as the gateway reads it: the daily limit says when it resets."""
    if "event-stream" in answer.headers.get("content-type", ""):
        return
    payload = json_of(answer.body)
    error = media_wire.media_error(payload) if isinstance(payload, dict) else None
    if isinstance(error, UpstreamRateLimited) and error.retry_after:
        actual = answer.headers.get(media_wire.ACTUAL_STATUS)
        shown = f"RateLimited: daily media quota spent, resets in {error.retry_after / 3600:g} h"
        raise Failure(shown, "media_quota", answer.status, actual)


async def t2i(ctx: Context) -> str:
    """The image turn as the gateway runs it: a streamed `t2i` turn, image URLs until the phase finishes."""
    answer = await _media_turn(ctx, "t2i")
    _media_refusal(answer)
    urls: list[str] = []
    finished = False
    try:
        for payload in _sse_payloads(answer):
            urls += media_wire.image_urls(payload, frozenset())
            finished = finished or media_wire.image_turn_finished(payload)
    except GatewayError as exc:
        raise _failure_of(exc, answer.status) from None
    if not urls:
        raise Failure("no image URL in the stream", "unexpected", answer.status)
    ended = "image phase finished" if finished else "stream ended without the finished frame"
    return f"{len(urls)} image URL(s) received; {ended}"  # never the URL: it carries a key


async def t2v(ctx: Context) -> str:
    """The video flow as the gateway runs it: submit (`stream: false`), then poll `task/status` (whose real
    status is the `x-actual-status-code` header) until the task ends or `--timeout` passes."""
    answer = await _media_turn(ctx, "t2v")
    _media_refusal(answer)
    payload = check(answer.status, answer.headers, answer.body, write=True)
    try:
        task_id = media_wire.task_id_of(payload)
    except GatewayError:
        raise Failure("no task id at data.messages[0].extra.wanx.task_id", "unexpected", answer.status) from None
    started = time.monotonic()
    pause = 0.25
    while True:
        polled = await ctx.call("GET", ctx.path("task_status", task_id=task_id))
        if json_of(polled.body) is None:
            check(polled.status, polled.headers, polled.body)  # a WAF page or other non-JSON, diagnosed
        try:
            state = media_wire.task_state(polled.status, polled.headers, json_of(polled.body))
        except GatewayError as exc:
            failure = _failure_of(exc, polled.status)
            failure.actual = polled.headers.get(media_wire.ACTUAL_STATUS)
            raise failure from None
        waited = time.monotonic() - started
        actual = polled.headers.get(media_wire.ACTUAL_STATUS)
        if state.status == "succeeded":
            return f"task done after {waited:.1f} s; video URL received"  # never the URL: it carries a key
        if state.status == "failed":
            raise Failure(f"video task failed: {state.error}", "unexpected", polled.status, actual)
        remaining = ctx.timeout - waited
        if remaining <= 0:
            shown = f"task accepted, still running after {waited:.0f} s"
            raise Failure(shown, "video_running", polled.status, actual)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, VIDEO_POLL_MAX)


async def tts(ctx: Context) -> str:
    """The read-aloud flow as the gateway runs it: the answered message's content set, then spoken."""
    if not (ctx.chat_id and ctx.response_id):
        raise Failure("no answered message to speak", "unexpected")
    chat_id, message_id = ctx.chat_id, ctx.response_id
    path = ctx.path("chat_message", chat_id=chat_id, message_id=message_id)
    answer = await ctx.call("POST", path, tts_flow.message_body("pong"), chat_id=chat_id)
    check(answer.status, answer.headers, answer.body, write=True)
    answer = await ctx.call(
        "POST",
        ctx.path("tts"),
        tts_flow.tts_body(chat_id, message_id),
        chat_id=chat_id,
        stream=True,
        query=f"chat_id={chat_id}",
    )
    audio = 0
    try:
        for payload in _sse_payloads(answer):
            audio += len(tts_flow.pcm_of(payload)[0])
    except GatewayError as exc:
        raise _failure_of(exc, answer.status) from None
    if not audio:
        raise Failure("a stream without audio", "unexpected", answer.status)
    return f"{audio} bytes of speech"


# ---- OpenAI-compatible and DashScope accounts, through the gateway's own provider --------------------
async def compat_models(ctx: Context) -> str:
    try:
        listed = await ctx.extra.list_models(ctx.account)
    except GatewayError as exc:
        raise _failure_of(exc, exc.status) from None
    return f"{len(listed)} models"


async def compat_completion(ctx: Context) -> str:
    request = ChatRequest(
        model=ctx.model, messages=[Message("user", [TextPart(PROMPT)])], stream=True, max_tokens=8
    )
    text = ""
    try:
        async for event in ctx.extra.stream(request, ctx.account):
            if isinstance(event, TextDelta):
                text += event.text
    except GatewayError as exc:
        raise _failure_of(exc, exc.status) from None
    if not text.strip():
        raise Failure("an answer without text", "unexpected")
    return f'answered "{" ".join(text.split())[:24]}"'


STEPS: list[Step] = [
    Step("sign-in", signin, applies=_has_password),
    Step("token check", token_check, needs=("sign-in",)),
    Step("model list", models, needs=("token check",)),
    Step("chat creation", new_chat, needs=("token check",)),
    Step("completion", completion, needs=("chat creation",)),
    Step("completion (thinking)", completion_thinking, needs=("chat creation",)),
    Step("upload", upload, needs=("token check",)),
    Step("t2i", t2i, needs=("chat creation",), media=True),
    Step("t2v", t2v, needs=("chat creation",), media=True),
    Step("tts", tts, needs=("completion",), media=True),
    Step("model list", compat_models, kinds=COMPAT),
    Step("completion", compat_completion, kinds=COMPAT, needs=("model list",)),
]
MEDIA_STEPS = tuple(s.name for s in STEPS if s.media)
STEP_NAMES = tuple(dict.fromkeys(s.name for s in STEPS))
