"""The web API's request bodies, stream events and error bodies, as pure functions.

Everything here follows the observed protocol (see the project's protocol notes): a new chat per request,
one completion call carrying a single user message, and an SSE answer whose deltas carry a `phase`
(`think`, `thinking_summary`, `answer`, ...) and a `status` that turns `finished` at the end of each phase.

Content moderation: Alibaba's documented signal is the error code `DataInspectionFailed` /
`data_inspection_failed` ("Input or output data may contain inappropriate content"). No capture of the web
app shows its exact place, so it is recognised in either in-stream error shape, by code or by that wording,
and ends the answer with the `content_filter` finish reason (OpenAI's, Anthropic's `refusal`) instead of
failing it: another account would refuse the same text, and the client keeps what was already streamed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from qwen_server.core.errors import (
    GatewayError,
    UpstreamBadRequest,
    UpstreamBlocked,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamUnknownError,
)
from qwen_server.core.model import Event, Finish, ThinkingDelta, Usage
from qwen_server.providers.qwen_web import outdated, protocol, waf
from qwen_server.providers.qwen_web.outdated import AnswerWatch
from qwen_server.providers.qwen_web.phases import PhaseParser

# Read from `protocol.json` (patched by QWEN_PROTOCOL_OVERRIDES) when the process starts; the provider reads
# `protocol.current()` on every call.
SIGNIN_PATH = protocol.current().path("signin")
WHOAMI_PATH = protocol.current().path("whoami")
MODELS_PATH = protocol.current().path("models")
NEW_CHAT_PATH = protocol.current().path("new_chat")
COMPLETIONS_PATH = protocol.current().path("completions")
CHAT_PATH = protocol.current().data["paths"]["chat"]
STS_TOKEN_PATH = protocol.current().path("sts_token")
FILE_PARSE_PATH = protocol.current().path("file_parse")
FILE_PARSE_STATUS_PATH = protocol.current().path("file_parse_status")
TASK_STATUS_PATH = protocol.current().data["paths"]["task_status"]
TTS_PATH = protocol.current().path("tts")

_FILTER_MARKERS = protocol.current().signatures("content_filter")
THINKING_PHASES = frozenset({"think", "thinking_summary"})
ANSWER_PHASES = frozenset({"answer", None})


def new_chat_body(model: str, chat_type: str = "t2t", now_ms: int | None = None) -> dict[str, Any]:
    return {
        **protocol.current().section("new_chat"),
        "models": [model],
        "chat_type": chat_type,
        "timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
    }


def completion_body(
    *,
    chat_id: str,
    model: str,
    content: str,
    thinking: bool,
    thinking_budget: int | None,
    stream: bool = True,
    chat_type: str = "t2t",
    files: list[dict[str, Any]] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    spec = protocol.current()
    feature_config: dict[str, Any] = {**spec.section("feature_config"), "thinking_enabled": thinking}
    if thinking and thinking_budget:
        feature_config["thinking_budget"] = thinking_budget
    fid, child = str(uuid.uuid4()), str(uuid.uuid4())
    message = {
        **spec.section("message"),
        "fid": fid,
        "parentId": None,
        "childrenIds": [child],
        "role": "user",
        "content": content,
        "user_action": "chat",
        "files": files or [],
        "timestamp": int(now),
        "models": [model],
        "chat_type": chat_type,
        "feature_config": feature_config,
        "extra": {"meta": {"subChatType": chat_type}},
        "sub_chat_type": chat_type,
        "parent_id": None,
    }
    return {
        **spec.section("completion"),
        "stream": stream,
        "chat_id": chat_id,
        "model": model,
        "parent_id": None,
        "timestamp": int(now * 1000),
        "messages": [message],
    }


def signin_body(email: str, password_sha256: str) -> dict[str, str]:
    return {"email": email, "password": password_sha256}


@dataclass(slots=True)
class StreamState:
    """What the parser remembers between events of one answer."""

    usage: Usage | None = None
    answer_finished: bool = False
    response_id: str | None = None
    chat_id: str | None = None
    phases_seen: list[str] = field(default_factory=list)
    phases: PhaseParser = field(default_factory=PhaseParser)  # search, summaries, code, progress
    watch: AnswerWatch = field(default_factory=AnswerWatch)  # the old-client refusal posing as an answer


def parse_event(payload: dict[str, Any], state: StreamState) -> list[Event]:
    """Neutral events for one decoded `data:` object; raises a `GatewayError` for an in-stream error."""
    fields = error_fields(payload)
    if fields is not None:
        if content_filtered(*fields):
            state.answer_finished = True
            return [Finish("content_filter")]
        raise classify_code(*fields)
    created = payload.get("response.created")
    if isinstance(created, dict):
        state.response_id = created.get("response_id")
        state.chat_id = created.get("chat_id")
        return []
    usage = payload.get("usage")
    if isinstance(usage, dict) and usage:
        details = usage.get("output_tokens_details") or {}
        state.usage = Usage(
            input_tokens=int(usage.get("input_tokens") or usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or usage.get("completion_tokens") or 0),
            reasoning_tokens=int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0,
        )
    events: list[Event] = []
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        phase = delta.get("phase")
        content = delta.get("content") or ""
        if phase and (not state.phases_seen or state.phases_seen[-1] != phase):
            state.phases_seen.append(phase)
        tool = delta.get("role") == "function" or delta.get("name") == "web_search" or "function_call" in delta
        if phase in ANSWER_PHASES and not tool:
            passed = state.watch.feed(content) if content else ""
            events += state.phases.answer(passed) if passed else []
        elif phase == "think" or (phase in THINKING_PHASES and content):
            events += [ThinkingDelta(content)] if content else []
        else:
            events += state.phases.other(phase, delta)  # web_search, thinking_summary, code, progress
        if delta.get("status") == "finished" and phase in ANSWER_PHASES:
            state.answer_finished = True
            tail = state.watch.finish()
            events += state.phases.answer(tail) if tail else []
            events += state.phases.finish()
    return events


def error_fields(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(code, details) of the two in-stream error shapes: `{"error": {...}}` and
    `{"success": false, "data": {...}}`; None for any other payload."""
    if isinstance(payload.get("error"), dict):
        err = payload["error"]
        return str(err.get("code") or ""), str(err.get("details") or err.get("message") or "")
    if payload.get("success") is False:
        raw_data = payload.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        code = str(data.get("code") or payload.get("code") or "")
        details = str(
            data.get("details") or payload.get("details") or payload.get("msg") or payload.get("message") or ""
        )
        return code, details
    return None


def chat_refused(body: bytes) -> bool:
    """Whether an error answer says the chat itself is unusable: gone (`chat_gone`) or busy (`in_progress`)."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return False
    if not isinstance(payload, dict):
        return False
    fields = error_fields(payload) or ("", str(payload.get("detail") or ""))
    text = " ".join(fields)
    spec = protocol.current()
    return bool(spec.matches("chat_gone", text) or spec.matches("in_progress", text))


def content_filtered(code: str, details: str) -> bool:
    """Whether an upstream error is its content moderation refusing the text."""
    return protocol.current().matches("content_filter", f"{code} {details}") is not None


def stream_error(payload: dict[str, Any]) -> GatewayError | None:
    fields = error_fields(payload)
    return classify_code(*fields) if fields is not None else None


def classify_code(code: str, details: str, retry_after: float | None = None) -> GatewayError:
    """An error code (and its message) of a call. Refusals are `UpstreamForbidden` (the credential is
    checked separately); a code none of these rules knows is `UpstreamUnknownError`, neither retried nor
    held against the account."""
    spec = protocol.current()
    text = f"{code} {details}"
    lowered = text.lower()
    shown = f"qwen upstream: {code or 'error'}" + (f": {details[:200]}" if details else "")
    if outdated.is_refusal(text):
        return outdated.raw_refusal(code, details)
    blocked = waf.diagnose_text(text)
    if blocked is not None:
        return waf.blocked_error(blocked)
    if spec.matches("rate_limited", text) or "ratelimit" in lowered.replace("_", ""):
        return UpstreamRateLimited(shown, retry_after=retry_after)
    if spec.matches("unauthenticated", text) or ("token" in lowered and "expire" in lowered):
        return UpstreamForbidden(shown)
    if spec.matches("in_progress", text):
        return UpstreamError(shown)
    if "model" in lowered and ("not found" in lowered or "not exist" in lowered or "not allowed" in lowered):
        return UpstreamModelNotFound(shown)
    if code == "Bad_Request":
        return UpstreamBadRequest(shown)
    return UpstreamUnknownError(shown)


def classify_response(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """An HTTP error answer (or a 200 JSON answer where a stream was expected) as a product error."""
    retry_after = _retry_after(headers.get("retry-after"))
    text = body[:2000].decode("utf-8", errors="replace")
    content_type = headers.get("content-type", "")
    blocked = waf.diagnose(status, headers, body)
    if blocked is not None:
        return waf.blocked_error(blocked)
    if "text/html" in content_type or text.lstrip().lower().startswith(("<!doctype", "<html")):
        return UpstreamBlocked(
            waf.client_message(f"an HTML page where JSON was due (HTTP {status})")
        )
    payload: dict[str, Any] = {}
    try:
        import orjson

        loaded = orjson.loads(body) if body else {}
        payload = loaded if isinstance(loaded, dict) else {}
    except ValueError:
        payload = {}
    detail = payload.get("detail")
    raw_nested = payload.get("data")
    nested: dict[str, Any] = raw_nested if isinstance(raw_nested, dict) else {}
    code = str(nested.get("code") or payload.get("code") or "")
    details = str(nested.get("details") or detail or payload.get("details") or payload.get("msg") or "")
    if outdated.is_refusal(f"{code} {details}"):
        return outdated.raw_refusal(code, details)
    if status == 429:
        return UpstreamRateLimited(
            f"qwen upstream rate limit: {details[:200] or 'HTTP 429'}", retry_after=retry_after
        )
    if status in (401, 403):
        # the token, or only this model / request: the provider's `verify` tells them apart
        shown = f": {details[:200]}" if details else ""
        return UpstreamForbidden(f"qwen upstream refused the call (HTTP {status}){shown}")
    if status >= 500:
        return UpstreamError(f"qwen upstream failed (HTTP {status})")
    if code or details:
        return classify_code(code, details, retry_after)
    if status == 404:
        return UpstreamError(f"qwen upstream endpoint not found (HTTP {status})")
    return UpstreamBadRequest(f"qwen upstream rejected the request (HTTP {status})")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
