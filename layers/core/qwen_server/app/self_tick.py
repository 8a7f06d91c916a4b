"""Batches and videos progress without a frequent scheduler: the function calls its own tick routes.

Vercel's Hobby plan runs crons at most once a day, so a batch or a video cannot wait for the next one. Instead,
creating one, and a tick that leaves work behind, send a request to the deployment's own tick route
(`https://$VERCEL_URL`, or `SELF_BASE_URL`), authenticated with `CRON_SECRET`. That request is sent after the
response, through the `vercel` SDK's `wait_until` inside a Vercel invocation (the platform keeps it alive for
it, within `maxDuration`), or as a background task elsewhere. A tick route called this way answers 202 at once
and does its pass after the response in the same way, so no invocation waits on another.

Chains stay few and bounded: a tick continues the chain only while work remains; one that got nothing done
(another worker holds the leases) asks through the same store-kept gate as a status read does, so at most
one such request per `GATE_SECONDS` per kind. A status read of an unfinished batch rings that gate too, which
restarts a chain that died (a lost request, a killed instance). The daily cron is the last resort.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from starlette.requests import Request

    from qwen_server.app.runtime import Runtime
    from qwen_server.config import Settings

log = logging.getLogger("qwen_server")
Kind = Literal["batches", "videos"]
PATHS: dict[Kind, str] = {"batches": "/internal/batches/tick", "videos": "/internal/cron/videos"}
SELF_HEADER = "x-qwen-self-tick"  # a self-triggered call: answer 202 and work after the response
GATE_SECONDS = 10.0  # at most one gated self-call per kind this often
SEND_SECONDS = 10.0  # connecting and reading the 202; the pass itself runs in the called invocation
_running: set[asyncio.Task[Any]] = set()


def self_base(settings: Settings) -> str | None:
    """Where the deployment reaches itself: `SELF_BASE_URL`, else `https://$VERCEL_URL` on Vercel."""
    if settings.self_base_url:
        return settings.self_base_url.rstrip("/")
    if settings.vercel and settings.vercel_url:
        return f"https://{settings.vercel_url.removeprefix('https://').rstrip('/')}"
    return None


def enabled(settings: Settings) -> bool:
    return bool(self_base(settings) and settings.cron_secret)


def after_response(work: Coroutine[Any, Any, Any]) -> None:
    """Run `work` once the response is out: Vercel's `wait_until` when this is a Vercel invocation (the
    `vercel` package sets its context), else a task on this loop (kept referenced until it ends)."""
    hook = _vercel_wait_until()
    if hook is not None:
        hook(work)
        return
    task = asyncio.get_running_loop().create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


def _vercel_wait_until() -> Any:
    try:
        from vercel.cache.context import get_context
        from vercel.functions import wait_until
    except ImportError:
        return None
    # outside an invocation the SDK's wait_until drops the work (it closes the coroutine): not what we want
    return wait_until if get_context().wait_until is not None else None


async def nudge(runtime: Runtime, kind: Kind, *, gated: bool = True) -> bool:
    """Ask this deployment to tick `kind` soon; False when self-calls are off or the gate is shut."""
    settings = runtime.settings
    base = self_base(settings)
    if base is None or not settings.cron_secret:
        return False
    if gated and not await runtime.store.set_if_absent(f"self-tick:{kind}", b"1", ttl=GATE_SECONDS):
        return False
    after_response(_call(f"{base}{PATHS[kind]}", settings.cron_secret))
    return True


async def _call(url: str, secret: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=SEND_SECONDS) as client:
            response = await client.get(url, headers={"authorization": f"Bearer {secret}", SELF_HEADER: "1"})
        if response.status_code >= 300:
            log.warning("self tick %s answered %d", url, response.status_code)
    except httpx.HTTPError as exc:  # the next create, status read or cron starts a chain again
        log.warning("self tick %s failed: %s", url, type(exc).__name__)


def is_self_call(request: Request) -> bool:
    return request.headers.get(SELF_HEADER) == "1"


def cron_authorised(request: Request, secret: str) -> bool:
    """`Authorization: Bearer <CRON_SECRET>`, compared in constant time."""
    sent = request.headers.get("authorization", "")
    return hmac.compare_digest(sent.encode("latin-1", "replace"), f"Bearer {secret}".encode())
