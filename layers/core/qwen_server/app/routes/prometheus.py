"""GET /metrics: Prometheus text exposition, beside the JSON `/v1/metrics` and guarded the same way."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.auth import require_operator
from qwen_server.app.runtime import runtime_of


async def metrics(request: Request) -> Response:
    runtime = await runtime_of(request)
    operator = require_operator(request)
    from qwen_server.observability.prometheus import CONTENT_TYPE, render
    from qwen_server.pool.report import without_names

    accounts = await runtime.pool.snapshot()
    body = render(
        runtime.metrics.snapshot(),
        accounts if operator else without_names(accounts),
        await runtime.gateway.scheduler.snapshot(),
    )
    return Response(body, media_type=CONTENT_TYPE)
