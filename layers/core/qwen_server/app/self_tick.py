"""Batches and videos progress without a frequent scheduler: the function calls its own tick routes.

Vercel's Hobby plan runs crons at most once a day, so a batch or a video cannot wait for the next one. Instead,
creating one, and a tick that leaves work behind, send a request to the deployment's own tick route,
authenticated with `CRON_SECRET`. Where: `SELF_BASE_URL` when set; on a production deployment, the project's
production domain (`VERCEL_PROJECT_PRODUCTION_URL`), because Deployment Protection, on by default, answers 401
on generated deployment URLs such as `$VERCEL_URL` and leaves only the production domain public; elsewhere
(previews) `https://$VERCEL_URL`, with Vercel's automation bypass secret when the project has one. That request is sent after the
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
BYPASS_HEADER = "x-vercel-protection-bypass"  # Vercel's "Protection Bypass for Automation"
GATE_SECONDS = 10.0  # at most one gated self-call per kind this often
SEND_SECONDS = 10.0  # connecting and reading the 202; the pass itself runs in the called invocation
_running: set[asyncio.Task[Any]] = set()


def _https(host: str) -> str:
    return f"https://{host.removeprefix('https://').rstrip('/')}"


def self_base(settings: Settings) -> str | None:
    """Where the deployment reaches itself: `SELF_BASE_URL`; on Vercel its production domain in production,
    else its own generated URL."""
    if settings.self_base_url:
        return settings.self_base_url.rstrip("/")
    if not settings.vercel:
        return None
    if settings.vercel_env == "production" and settings.vercel_project_production_url:
        return _https(settings.vercel_project_production_url)
    return _https(settings.vercel_url) if settings.vercel_url else None


def self_headers(settings: Settings) -> dict[str, str]:
    """What a self-call sends: the cron secret, the self-call mark, and on Vercel the protection bypass (only
    to a Vercel address, never to an operator's `SELF_BASE_URL`)."""
    headers = {"authorization": f"Bearer {settings.cron_secret}", SELF_HEADER: "1"}
    if settings.vercel and not settings.self_base_url and settings.vercel_automation_bypass_secret:
        headers[BYPASS_HEADER] = settings.vercel_automation_bypass_secret
    return headers


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
    after_response(_call(f"{base}{PATHS[kind]}", self_headers(settings)))
    return True


async def _call(url: str, headers: dict[str, str]) -> None:
    try:
        async with httpx.AsyncClient(timeout=SEND_SECONDS) as client:
            response = await client.get(url, headers=headers)
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
