"""Who may call a generation route, and how much: gateway key (fail closed when deployed), then the
tenant's rate limits; the answer's tokens are charged to the tenant and noted in the access log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request

from qwen_server.app.auth import tenant_for, tenant_id
from qwen_server.app.http import is_anthropic
from qwen_server.core.errors import Misconfigured
from qwen_server.core.model import Event, Usage

if TYPE_CHECKING:  # the limiter, its store and the settings load with the first request, not at import
    from qwen_server.app.ratelimit import RateLimiter
    from qwen_server.app.runtime import Runtime
    from qwen_server.observability.usage import UsageLedger


def _services(runtime: Runtime) -> tuple[RateLimiter, UsageLedger]:
    from qwen_server.app.ratelimit import LimitTable, RateLimiter
    from qwen_server.config import ConfigError
    from qwen_server.observability.usage import UsageLedger

    if runtime.limiter is None:
        settings = runtime.settings
        try:
            table = LimitTable(
                settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limits, tenant_id
            )
        except ConfigError as exc:
            raise Misconfigured(f"The gateway is misconfigured: {exc}") from None
        runtime.limiter = RateLimiter(runtime.store, table)
    if runtime.usage is None:
        runtime.usage = UsageLedger(runtime.store)
    return runtime.limiter, runtime.usage


def usage_ledger(runtime: Runtime) -> UsageLedger:
    return _services(runtime)[1]


async def admit(request: Request, runtime: Runtime) -> str:
    """The tenant, once its key is accepted and its limits leave room; the rate-limit headers go on the
    response whatever its status (`RequestContextMiddleware` adds `state["headers"]`)."""
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    limiter, usage = _services(runtime)
    verdict = await limiter.admit(tenant)
    if verdict is not None:
        request.scope["state"].setdefault("headers", {}).update(
            verdict.headers(is_anthropic(request.url.path))
        )
        kind = verdict.refused_by
        if kind is not None:
            from qwen_server.app.ratelimit import RateLimited

            limit = verdict.limits.rpm if kind == "requests" else verdict.limits.tpm
            raise RateLimited(
                f"Rate limit reached for {kind}: this key may use {limit} {kind} per minute. "
                f"Try again in {max(1, round(verdict.reset))} s.",
                retry_after=verdict.reset,
            )
    usage.add(tenant, requests=1)
    request.scope["state"]["metered_tenant"] = tenant  # an error answer counts against it (`http._count_error`)
    return tenant


def meter(
    request: Request, runtime: Runtime, tenant: str, events: AsyncIterator[Event]
) -> AsyncIterator[Event]:
    """`events` unchanged; their final usage is charged to the tenant and written to the access log."""
    from qwen_server.app.ratelimit import metered

    limiter, usage = _services(runtime)

    def on_usage(final: Usage) -> None:
        # nested: the log's redaction hides top-level fields named like secrets (`*token*`)
        request.state.log["usage"] = {
            "input_tokens": final.input_tokens,
            "output_tokens": final.output_tokens,
        }
        usage.add(tenant, input_tokens=final.input_tokens, output_tokens=final.output_tokens)
        limiter.charge(tenant, final.total_tokens)

    return metered(events, on_usage)
