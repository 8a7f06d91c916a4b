"""Chats and completions: validation in the documented order, then a fault or a timed reply."""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator import media, protocol, timeline
from qwen_server.emulator.accounts import Account
from qwen_server.emulator.catalog import BY_ID
from qwen_server.emulator.completion_request import CompletionRequest, parse_completion
from qwen_server.emulator.directives import find_script
from qwen_server.emulator.faults import pick_fault
from qwen_server.emulator.files import conversation_of, seen_note
from qwen_server.emulator.replies import ReplyPlan, plan_reply
from qwen_server.emulator.responses import TimedResponse, json_response
from qwen_server.emulator.routes_generation import MEDIA_CHAT_TYPES, media_turn
from qwen_server.emulator.state import EmulatorState

Endpoint = Callable[[Request], Awaitable[Response | TimedResponse]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = protocol.SSE_HEADERS


def _unauthenticated() -> Response:
    return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})


def _new_chat(state: EmulatorState) -> Endpoint:
    async def new_chat(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return _unauthenticated()
        problem = _new_chat_problem(await request.body())
        if problem:
            return json_response(200, protocol.failure("Bad_Request", problem))
        return json_response(200, {"success": True, "data": {"id": state.new_chat(account)}})

    return new_chat


def _new_chat_problem(raw: bytes) -> str | None:
    """What is wrong with a new-chat body, None when nothing is: `models` a list when sent; `project_id` (sent
    by some clients, not by others) a string or null; `timestamp` a number."""
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "the body must be JSON"
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if "models" in body and not isinstance(body["models"], list):
        return "'models' must be a list"
    if body.get("project_id") is not None and not isinstance(body["project_id"], str):
        return "'project_id' must be a string or null"
    stamp = body.get("timestamp")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int | float)):
        return "'timestamp' must be a number"
    return None


def _delete_chat(state: EmulatorState) -> Endpoint:
    async def delete_chat(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return _unauthenticated()
        chat_id = request.path_params["chat_id"]
        if state.chats.get(chat_id) != account.index:
            return json_response(404, protocol.failure("Not_Found", "Chat not found"))
        del state.chats[chat_id]
        return json_response(200, {"success": True, "data": {"status": True}})

    return delete_chat


class _Completion:
    """One completion after validation: turns the chosen fault (or none) into a response."""

    def __init__(self, state: EmulatorState, account: Account, chat_id: str, req: CompletionRequest) -> None:
        self.state, self.account, self.chat_id, self.req = state, account, chat_id, req

    def respond(self, plan: ReplyPlan) -> Response | TimedResponse:
        state, index = self.state, self.account.index
        knobs = state.knobs.for_account(index)
        fault = plan.error or pick_fault(knobs, state.rng)
        if fault is not None:
            state.stats.error(fault, index)
            plan = dataclasses.replace(plan, error=fault)
        if fault == "500":
            details = plan.details or "Internal server error (emulated)"
            return json_response(500, protocol.failure("InternalError", details))
        if fault == "429":
            retry = max(1, math.ceil(knobs.retry_after))
            details = plan.details or f"Too many requests, retry in {retry} s (emulated)"
            body = protocol.failure("RateLimited", details)
            return json_response(429, body, headers={"retry-after": str(retry)})
        if fault == "401":
            state.tokens.revoke(self.account)
            return json_response(401, {"detail": protocol.TOKEN_EXPIRED})
        if fault == "garbage":
            return Response(protocol.GARBAGE_SSE, status_code=200, media_type="text/event-stream")
        if fault == "waf":
            return Response(protocol.WAF_HTML, status_code=200, media_type="text/html")
        if fault == "bad_request":
            details = plan.details or "Invalid request (emulated)"
            return json_response(200, protocol.failure("Bad_Request", details))
        if fault == "rate_limited":
            body = protocol.failure("RateLimited", "You have reached the daily usage limit (emulated)")
            if not self.req.stream:
                return json_response(200, body)
            return Response(protocol.sse(body), media_type="text/event-stream")
        return self._running(plan, fault)

    def _running(self, plan: ReplyPlan, fault: str | None) -> TimedResponse:
        """A response that occupies the chat (and counts as in flight) until it ends."""
        state, index, chat_id = self.state, self.account.index, self.chat_id
        state.running.add(chat_id)
        state.stats.begin(index)
        ok = fault is None

        def close() -> None:
            state.running.discard(chat_id)
            state.stats.end(index)
            if ok:
                state.stats.completed(index)

        if fault == "hang":
            return TimedResponse(200, _SSE_HEADERS, None, close)
        ids = timeline.Ids(chat_id, self.req.message_id or str(uuid.uuid4()), str(uuid.uuid4()))
        knobs = state.knobs.for_account(index)
        line = timeline.build(plan, knobs, ids, self.req.incremental)
        if self.req.stream:
            return TimedResponse(200, _SSE_HEADERS, line.steps, close, complete=line.complete)
        return self._collected(line, ids, fault, close)

    def _collected(
        self, line: timeline.Timeline, ids: timeline.Ids, fault: str | None, close: Callable[[], None]
    ) -> TimedResponse:
        """`stream: false`: wait as long as the stream would have taken, then answer one JSON body."""
        wait = sum(step.wait for step in line.steps)
        if fault in timeline.CUT_ERRORS:
            body = orjson.dumps(protocol.failure(*timeline.CUT_ERRORS[fault]))
        else:
            body = orjson.dumps(
                protocol.collected(
                    ids.chat_id, ids.parent_id, ids.response_id, line.answer, line.think, line.usage
                )
            )
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if not line.complete:  # a drop: half the promised body, then the connection closes
            body = body[: len(body) // 2]
        step = timeline.Step(wait, body)
        return TimedResponse(200, headers, [step], close, complete=line.complete)


def _completions(state: EmulatorState) -> Endpoint:
    async def completions(request: Request) -> Response | TimedResponse:
        account = state.authenticate(request)
        if account is None:
            state.stats.error("not_authenticated")
            return _unauthenticated()
        index = account.index
        state.stats.completion(index)
        if request.headers.get(protocol.VERSION_HEADER) != protocol.REQUIRED_VERSION:
            state.stats.error("missing_version", index)
            return json_response(200, protocol.missing_version())
        chat_id = request.query_params.get("chat_id", "")
        if state.chats.get(chat_id) != index:
            state.stats.error("chat_not_found", index)
            return json_response(404, protocol.failure("Not_Found", "Chat not found"))
        try:
            payload = orjson.loads(await request.body())
            if _is_media(payload):
                return await media_turn(state, account, chat_id, payload, str(request.base_url))
            req = parse_completion(payload, chat_id)
        except ValueError as exc:
            state.stats.error("invalid_body", index)
            return json_response(200, protocol.failure("Bad_Request", str(exc)))
        model = BY_ID.get(req.model)
        if model is None:
            state.stats.error("model_not_found", index)
            return json_response(404, protocol.failure("Model_Not_Found", f"Model not found: {req.model}"))
        if chat_id in state.running:
            state.stats.error("chat_in_progress", index)
            return json_response(200, protocol.failure("Bad_Request", protocol.IN_PROGRESS))
        if len(req.content) > state.config.max_message_chars:
            state.stats.error("message_too_long", index)
            return json_response(200, protocol.failure("Bad_Request", protocol.TOO_LONG))
        seen, refused = state.files.check_files(index, req.files)
        if refused is not None:
            state.stats.error("invalid_files", index)
            return json_response(200, protocol.failure("Bad_Request", f"Invalid file information! {refused}"))
        script = find_script(req.content) or state.scripts.pop(index)
        if script is not None and (script.error or script.silence_mid) and not state.script_error_due(script):
            script = dataclasses.replace(
                script, error=None, silence_mid=0.0
            )  # `times` used up: a clean reply
        budget = min(req.thinking_budget, model.thinking_max) if req.thinking_budget else None
        heard = media.heard(seen, req.content)  # an audio file attached: the reply is its transcript
        content = req.content + seen_note(seen) if heard is None else heard
        conversation = conversation_of(req.content, seen) if heard is None else heard
        plan = plan_reply(
            content, script, req.thinking and model.thinks, budget, req.chat_type, conversation=conversation
        )
        return _Completion(state, account, chat_id, req).respond(plan)

    return completions


def _is_media(body: Any) -> bool:
    """An image or video turn (`routes_generation` answers those)."""
    try:
        return body["messages"][0]["chat_type"] in MEDIA_CHAT_TYPES
    except (KeyError, IndexError, TypeError):
        return False


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/api/v2/chats/new", _new_chat(state), methods=["POST"]),
        Route("/api/v2/chats/{chat_id}", _delete_chat(state), methods=["DELETE"]),
        Route("/api/v2/chat/completions", _completions(state), methods=["POST"]),
    ]
