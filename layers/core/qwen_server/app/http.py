"""HTTP plumbing shared by every function: request ids, access log + metrics, error rendering, JSON bodies."""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qwen_server.core import offload
from qwen_server.core.errors import GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from qwen_server.core.ids import hex_id
from qwen_server.core.numbers import whole_number
from qwen_server.observability import request_log

if TYPE_CHECKING:
    from pydantic import BaseModel

    from qwen_server.app.runtime import Runtime, RuntimeCell

log = logging.getLogger("qwen_server")
M = TypeVar("M", bound="BaseModel")
OFF_LOOP_BODY = 256 * 1024  # a longer body is parsed (and validated) in a worker thread (`core.offload`)


def _count_error(runtime: Runtime, state: dict[str, Any], status: int) -> None:
    """A request admitted by `access.admit` (it names its tenant in `metered_tenant`) answered with an error
    status: one more error in its tenant's usage. (An error met after a stream began answers 200 and is not
    counted.)"""
    tenant = state.get("metered_tenant")
    if status >= 400 and isinstance(tenant, str) and runtime.usage is not None:
        runtime.usage.add(tenant, errors=1)


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def is_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages") or path.startswith("/anthropic/")


def error_response(
    error: GatewayError, request_path: str, *, anthropic: bool | None = None, request_id: str | None = None
) -> Response:
    """The API flavour's error body with the error's status and retry headers."""
    flavour_anthropic = is_anthropic(request_path) if anthropic is None else anthropic
    headers: dict[str, str] = {}
    status = error.status
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after)))
    if getattr(error, "gave_up", False):
        headers["x-should-retry"] = "false"
    if flavour_anthropic:
        from qwen_server.api.anthropic.errors import anthropic_error_body, anthropic_status

        body = anthropic_error_body(error)
        if request_id:
            body["request_id"] = request_id
        status = anthropic_status(error)
    else:
        from qwen_server.api.openai.errors import openai_error_body

        body = openai_error_body(error)
    return JSONBytes(body, status_code=status, headers=headers)


async def gateway_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc, request.url.path, request_id=request.scope.get("state", {}).get("request_id"))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error: GatewayError = NotFound(f"Unknown path {request.url.path}", code="unknown_url")
    elif exc.status_code == 405:
        error = InvalidRequest(
            f"Method {request.method} is not allowed on {request.url.path}", code="method_not_allowed"
        )
        error.status = 405
    else:
        error = InvalidRequest(str(exc.detail), status=exc.status_code)
    return error_response(error, request.url.path)


def internal_error_response(path: str, request_id: str | None) -> Response:
    error = GatewayError("The gateway hit an unexpected error; it was logged with this request's id.")
    error.code = "internal_error"
    return error_response(error, path, request_id=request_id)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """A backstop; `RequestContextMiddleware` answers unexpected errors itself, with the request id."""
    request_id = request.scope.get("state", {}).get("request_id")
    log.error("unexpected error on %s (request %s)", request.url.path, request_id, exc_info=exc)
    return internal_error_response(request.url.path, request_id)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `max_bytes`: from Content-Length before
    reading anything, else while it streams in, so a multi-gigabyte upload never sits in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        size = whole_number(declared)
        if size is None:
            raise InvalidRequest("The Content-Length header is not a number")
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body is {size} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # later readers (request.body()) see it instead of an exhausted stream
    return body


# What a web page may send anywhere without a CORS preflight (besides no type at all).
BROWSER_SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; a long one parsed off the event loop (a megabyte of nested arrays takes
    a parser a quarter of a second)."""
    refuse_browser_body(request)
    body = await read_body(request, max_bytes)
    if len(body) > OFF_LOOP_BODY:
        return await offload.run(functools.partial(parse_json_object, body))
    return parse_json_object(body)


async def read_model(request: Request, model: type[M], max_bytes: int) -> M:
    """The body checked against its API schema (`api.validation.validate`); a long one parsed and checked
    off the event loop, where tens of thousands of content blocks would take it seconds."""
    from qwen_server.api.validation import validate

    refuse_browser_body(request)
    body = await read_body(request, max_bytes)
    if len(body) > OFF_LOOP_BODY:
        return await offload.run(lambda: validate(model, parse_json_object(body)))
    return validate(model, parse_json_object(body))


def refuse_browser_body(request: Request) -> None:
    """On a gateway without keys (`KeylessGuard` marks its requests `keyless`), a JSON route refuses the
    content types a cross-site web page can send without a preflight: 415."""
    if not request.scope.get("state", {}).get("keyless"):
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type in BROWSER_SIMPLE_TYPES:
        raise InvalidRequest(
            f"This route takes a JSON body (Content-Type: application/json), not {media_type}",
            code="unsupported_content_type",
            status=415,
        )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object; anything else is a 400 that says what was wrong."""
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return data


class RequestContextMiddleware:
    """Gives every response an `x-request-id`, then writes one access-log line and the route metrics."""

    def __init__(self, app: ASGIApp, runtime: RuntimeCell) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{hex_id()}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["log"] = {}
        request_log.bind(state["log"])
        started = time.perf_counter()
        status = 500
        header = request_id.encode()

        status_sent: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status = status_sent = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", header),
                    (b"request-id", header),
                    *((k.encode(), v.encode()) for k, v in state.get("headers", {}).items()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # a bug: answer 500 in the API's shape, with the id the log line carries
            log.error("unexpected error on %s (request %s)", scope.get("path"), request_id, exc_info=exc)
            if status_sent is None:
                response = internal_error_response(scope.get("path", ""), request_id)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = state.get("route", "unmatched")
            from qwen_server.observability.logging import log_request

            runtime = self.runtime.current()
            if runtime is not None:
                runtime.metrics.record(path, status, elapsed)
                _count_error(runtime, state, status)
            aws_request_id = request_log.lambda_request_id(scope)
            log_request(
                {
                    "request_id": request_id,
                    **({"aws_request_id": aws_request_id} if aws_request_id else {}),
                    "method": scope["method"],
                    "route": path,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 2),
                    **state.get("log", {}),
                }
            )
