"""Per-tenant requests and tokens per minute, shared by every instance through the store.

Fixed one-minute windows (aligned to the wall clock), one counter each for requests and tokens per tenant.
A request is counted when it is admitted; its tokens (input + output, the upstream's usage when it reports
one) are charged when its answer ends, so a tenant over its token budget is refused from its next request
until the window turns. Limits come from `RATE_LIMIT_RPM` / `RATE_LIMIT_TPM` for everyone and `RATE_LIMITS`
per key (see `LimitTable`); without any, nothing is counted and no store call is made.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from qwen_server.config import ConfigError
from qwen_server.core.errors import GatewayError
from qwen_server.core.model import Event, Usage
from qwen_server.core.tenants import named_tenants
from qwen_server.observability.usage import UsageLedger
from qwen_server.store import Store

WINDOW = 60.0
_TTL = 2 * WINDOW


class RateLimited(GatewayError):
    """A tenant's own limit, not the gateway's overload: 429 `rate_limit_exceeded` on both APIs."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int = 0  # 0: unlimited
    tpm: int = 0

    @property
    def any(self) -> bool:
        return bool(self.rpm or self.tpm)


class LimitTable:
    """`RATE_LIMITS` is a JSON object from a gateway key (or its tenant id, `key-` and 12 hex digits, as logged) to
    `{"rpm": n, "tpm": n}`; a field it leaves out falls back to the global `RATE_LIMIT_RPM` / `_TPM`, and 0
    means unlimited."""

    def __init__(self, rpm: int, tpm: int, raw: str | None, tenant_of: Callable[[str], str]) -> None:
        self.default = Limits(rpm, tpm)
        self.by_tenant: dict[str, Limits] = {}
        for name, entry in _parse(raw).items():
            limits = Limits(_count(entry, "rpm", self.default.rpm), _count(entry, "tpm", self.default.tpm))
            for tenant in named_tenants(name, tenant_of):
                self.by_tenant[tenant] = limits

    def for_tenant(self, tenant: str) -> Limits:
        return self.by_tenant.get(tenant, self.default)

    @property
    def active(self) -> bool:
        return self.default.any or any(limits.any for limits in self.by_tenant.values())


def _parse(raw: str | None) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ConfigError('RATE_LIMITS: not JSON; expected an object like {"<key>": {"rpm": 60}}') from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError('RATE_LIMITS: expected a JSON object of key -> {"rpm": n, "tpm": n}')
    for entry in data.values():
        unknown = set(entry) - {"rpm", "tpm"}
        if unknown:
            raise ConfigError(f"RATE_LIMITS: unknown field(s) {sorted(unknown)}; only rpm and tpm")
    return data


def _count(entry: dict[str, Any], field: str, default: int) -> int:
    value = entry.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"RATE_LIMITS: {field} must be a whole number ≥ 0 (0: unlimited)")
    return value


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the client is told: limits, what is left in this window and when it turns."""

    limits: Limits
    requests_used: int
    tokens_used: int
    reset: float  # seconds until the window turns
    now: float

    @property
    def refused_by(self) -> str | None:
        if self.limits.rpm and self.requests_used > self.limits.rpm:
            return "requests"
        if self.limits.tpm and self.tokens_used >= self.limits.tpm:
            return "tokens"
        return None

    def headers(self, anthropic: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        resets_at = datetime.fromtimestamp(math.ceil(self.now + self.reset), UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        for kind, limit, used in (
            ("requests", self.limits.rpm, self.requests_used),
            ("tokens", self.limits.tpm, self.tokens_used),
        ):
            if not limit:
                continue
            remaining = str(max(0, limit - used))
            if anthropic:
                out[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
                out[f"anthropic-ratelimit-{kind}-remaining"] = remaining
                out[f"anthropic-ratelimit-{kind}-reset"] = resets_at
            else:
                out[f"x-ratelimit-limit-{kind}"] = str(limit)
                out[f"x-ratelimit-remaining-{kind}"] = remaining
                out[f"x-ratelimit-reset-{kind}"] = _duration(self.reset)
        return out


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `850ms`."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


class RateLimiter:
    def __init__(self, store: Store, table: LimitTable, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.table = table
        self._clock = clock
        self._charges: set[asyncio.Task[None]] = set()

    def _keys(self, tenant: str, now: float) -> tuple[str, str]:
        window = int(now // WINDOW)
        return f"ratelimit:{tenant}:requests:{window}", f"ratelimit:{tenant}:tokens:{window}"

    async def admit(self, tenant: str) -> Verdict | None:
        """Count this request; None when the tenant has no limits. The caller refuses when `refused_by`."""
        limits = self.table.for_tenant(tenant)
        if not limits.any:
            return None
        now = self._clock()
        requests_key, tokens_key = self._keys(tenant, now)
        requests = tokens = 0.0
        if limits.rpm and limits.tpm:
            requests, raw = await asyncio.gather(
                self.store.incr(requests_key, 1, ttl=_TTL), self.store.get(tokens_key)
            )
            tokens = float(raw) if raw else 0.0
        elif limits.rpm:
            requests = await self.store.incr(requests_key, 1, ttl=_TTL)
        else:
            raw = await self.store.get(tokens_key)
            tokens = float(raw) if raw else 0.0
        reset = (math.floor(now / WINDOW) + 1) * WINDOW - now
        return Verdict(limits, int(requests), int(tokens), reset, now)

    async def take(self, tenant: str) -> bool:
        """Count one request only if the tenant's window has room for it (True), else count nothing (False):
        how a batch line waits for budget without using it up by asking."""
        limits = self.table.for_tenant(tenant)
        if not limits.any:
            return True
        requests_key, tokens_key = self._keys(tenant, self._clock())
        if limits.tpm:
            raw = await self.store.get(tokens_key)
            if raw and float(raw) >= limits.tpm:
                return False
        if limits.rpm:
            raw = await self.store.get(requests_key)
            if raw and float(raw) >= limits.rpm:
                return False
            if await self.store.incr(requests_key, 1, ttl=_TTL) > limits.rpm:  # someone took the last one
                await self.store.incr(requests_key, -1, ttl=_TTL)
                return False
        return True

    def charge(self, tenant: str, tokens: int) -> None:
        """Add an answer's tokens to the tenant's window, in the background (the client is not kept)."""
        if tokens <= 0 or not self.table.for_tenant(tenant).tpm:
            return
        _, key = self._keys(tenant, self._clock())
        task = asyncio.get_running_loop().create_task(self._charge(key, tokens))
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def _charge(self, key: str, tokens: int) -> None:
        try:
            await self.store.incr(key, float(tokens), ttl=_TTL)
        except GatewayError as exc:  # the store is down: the answer was served, the count is lost
            import logging

            logging.getLogger("qwen_server").warning("token count not charged: %s", exc.message)

    async def settle(self) -> None:
        while self._charges:
            await asyncio.gather(*list(self._charges), return_exceptions=True)


class BatchBudget:
    """Batch lines as their tenant's requests (`batches.services.LineBudget`): each counts against
    `RATE_LIMIT_RPM` / `TPM` in the same windows as live traffic, waiting while the window is full, and shows
    in `/admin/usage`."""

    def __init__(self, limiter: RateLimiter, usage: UsageLedger) -> None:
        self.limiter = limiter
        self.usage = usage

    async def admit(self, tenant: str) -> bool:
        if not await self.limiter.take(tenant):
            return False
        self.usage.add(tenant, requests=1)
        return True

    def spent(self, tenant: str, input_tokens: int, output_tokens: int) -> None:
        self.usage.add(tenant, input_tokens=input_tokens, output_tokens=output_tokens)
        self.limiter.charge(tenant, input_tokens + output_tokens)

    async def settle(self) -> None:
        await self.limiter.settle()
        await self.usage.flush()


async def metered(events: AsyncIterator[Event], on_usage: Callable[[Usage], None]) -> AsyncIterator[Event]:
    """The events unchanged; the answer's final `Usage` goes to `on_usage` once the stream ends or stops."""
    last: Usage | None = None
    try:
        async with aclosing(events) as inner:  # type: ignore[type-var]
            async for event in inner:
                if isinstance(event, Usage):
                    last = event
                yield event
    finally:
        if last is not None:
            on_usage(last)
