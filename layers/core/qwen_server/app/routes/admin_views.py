"""Operator views the admin page reads, guarded by ADMIN_API_KEYS like every /admin route: the scheduler's
queues, usage by tenant over the last hour and day, and the recent upstream errors with their diagnosis."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.http import JSONBytes
from qwen_server.app.routes.admin import admin_runtime


async def queues(request: Request) -> Response:
    """Per request class: waiting and in flight across every instance (the store's view), the limits, and
    this instance's own waiters, oldest wait and admission counters."""
    runtime = await admin_runtime(request)
    return JSONBytes(
        {
            "now": time.time(),
            "classes": await runtime.gateway.scheduler.snapshot(),
            "failover": runtime.gateway.failover_snapshot(),
        }
    )


async def recent_usage(request: Request) -> Response:
    """Requests, tokens and error answers per tenant (a hash of its key) over the last hour and day."""
    runtime = await admin_runtime(request)
    from qwen_server.app.access import usage_ledger

    return JSONBytes(await usage_ledger(runtime).recent())


async def upstream_errors(request: Request) -> Response:
    """The newest upstream errors of every instance (at most 50, kept a day), each with a diagnosis and
    what `qwen-server doctor` advises for it."""
    runtime = await admin_runtime(request)
    return JSONBytes({"object": "list", "data": await runtime.upstream_errors.recent(), "now": time.time()})
