"""`/_emulator/*`: what tests and benchmarks use to steer the emulator and read its counters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator.accounts import Account
from qwen_server.emulator.directives import script_from_dict
from qwen_server.emulator.knobs import parse_knob_fields
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

Endpoint = Callable[[Request], Awaitable[Response]]


class _BadControl(ValueError):
    pass


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadControl(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _BadControl("the body must be a JSON object")
    return body


def _account(state: EmulatorState, key: object) -> Account | None:
    if key is None:
        return None
    try:
        return state.accounts.resolve(key)
    except KeyError as exc:
        raise _BadControl(str(exc)) from exc


def _handler(work: Callable[[EmulatorState, dict[str, Any]], Any], state: EmulatorState) -> Endpoint:
    """Wrap a control action: parse the body, answer 400 with the reason when it is wrong."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await _body(request) if request.method == "POST" else {}
            return json_response(200, work(state, body))
        except (_BadControl, ValueError) as exc:
            return json_response(400, {"error": str(exc)})

    return endpoint


def _health(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "accounts": len(state.accounts.all)}


def _stats(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    return {**state.stats.snapshot(), "scripts_pending": state.scripts.pending()}


def _reset(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """Zero the counters and the log of calls; with `{"all": true}` also drop queued scripts, knob changes,
    the round-trip time and the sign-in wall."""
    state.stats.reset()
    state.network.clear()
    if body.get("all"):
        state.scripts.clear()
        state.knobs.restore()
        state.network.rtt = state.config.rtt
        if state.wall is not None:
            state.wall.clear()
    return {"reset": True}


def _knobs_view(state: EmulatorState) -> dict[str, Any]:
    return {
        "global": state.knobs.base.as_dict(),
        "accounts": {a.email: state.knobs.for_account(a.index).as_dict() for a in state.accounts.all},
    }


def _knobs(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    if body:
        account = _account(state, body.pop("account", None))
        state.knobs.update(None if account is None else account.index, parse_knob_fields(body))
    return _knobs_view(state)


def _requests(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    return state.network.snapshot()


def _rtt(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    if "seconds" in body:
        seconds = body["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
            raise _BadControl("'seconds' must be a number from 0 to 60")
        state.network.rtt = float(seconds)
    return {"seconds": state.network.rtt}


def _expire(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    account = _account(state, body.get("account"))
    state.tokens.revoke(account)
    return {"expired": [a.email for a in state.accounts.all] if account is None else [account.email]}


def _script(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    replies = body.get("replies")
    if not isinstance(replies, list):
        raise _BadControl("'replies' must be a list of script objects")
    scripts = [script_from_dict(r) for r in replies]
    account = _account(state, body.get("account"))
    queued = state.scripts.push(None if account is None else account.index, scripts)
    return {"queued": queued, "account": None if account is None else account.email}


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/_emulator/health", _handler(_health, state), methods=["GET"]),
        Route("/_emulator/stats", _handler(_stats, state), methods=["GET"]),
        Route("/_emulator/reset", _handler(_reset, state), methods=["POST"]),
        Route("/_emulator/knobs", _handler(_knobs, state), methods=["GET", "POST"]),
        Route("/_emulator/requests", _handler(_requests, state), methods=["GET"]),
        Route("/_emulator/rtt", _handler(_rtt, state), methods=["GET", "POST"]),
        Route("/_emulator/expire-tokens", _handler(_expire, state), methods=["POST"]),
        Route("/_emulator/script", _handler(_script, state), methods=["POST"]),
    ]
