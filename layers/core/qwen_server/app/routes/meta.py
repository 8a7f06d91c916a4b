"""GET /health (liveness, no upstream call) and GET /v1/metrics (requests, accounts, queues)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server import __version__
from qwen_server.app.auth import require_operator
from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import runtime_of


async def health(request: Request) -> Response:
    return JSONBytes({"status": "ok", "version": __version__})


async def metrics(request: Request) -> Response:
    runtime = await runtime_of(request)
    operator = require_operator(request)
    from qwen_server.pool.report import without_names

    accounts = await runtime.pool.snapshot()
    return JSONBytes(
        {
            **runtime.metrics.snapshot(),
            "accounts_source": runtime.registry.source if operator else None,
            "accounts_error": runtime.registry.error if operator else None,
            "accounts": accounts if operator else without_names(accounts),
            "scheduler": await runtime.gateway.scheduler.snapshot(),
            "failover": runtime.gateway.failover_snapshot(),
        }
    )
