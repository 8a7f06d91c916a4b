"""A one-process scheduler: asyncio semaphores with bounded FIFO waiting. Used when no shared store is wanted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from qwen_server.core.errors import Overloaded
from qwen_server.scheduler.base import RequestClass


@dataclass(slots=True)
class ClassLimits:
    concurrent: int
    queue: int
    timeout: float


@dataclass(slots=True)
class _ClassState:
    limits: ClassLimits
    semaphore: asyncio.Semaphore
    waiting: int = 0
    in_flight: int = 0
    admitted: int = 0
    rejected: int = 0
    waits: list[float] = field(default_factory=list)


class LocalScheduler:
    def __init__(self, limits: dict[RequestClass, ClassLimits]) -> None:
        self._classes = {
            cls: _ClassState(limits=lim, semaphore=asyncio.Semaphore(lim.concurrent))
            for cls, lim in limits.items()
        }

    @asynccontextmanager
    async def admit(self, cls: RequestClass, tenant: str) -> AsyncIterator[None]:
        state = self._classes[cls]
        if state.semaphore.locked() and state.waiting >= state.limits.queue:
            state.rejected += 1
            raise Overloaded(f"the {cls} queue is full ({state.limits.queue} waiting)", retry_after=1)
        started = time.monotonic()
        state.waiting += 1
        try:
            await asyncio.wait_for(state.semaphore.acquire(), state.limits.timeout)
        except TimeoutError:
            state.rejected += 1
            raise Overloaded(
                f"waited {state.limits.timeout:.0f}s for a {cls} slot", code="queue_timeout", retry_after=5
            ) from None
        finally:
            state.waiting -= 1
        state.admitted += 1
        state.in_flight += 1
        state.waits.append(time.monotonic() - started)
        del state.waits[:-1000]
        try:
            yield
        finally:
            state.in_flight -= 1
            state.semaphore.release()

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for cls, s in self._classes.items():
            waits = sorted(s.waits)
            out[cls] = {
                "limit": s.limits.concurrent,
                "in_flight": s.in_flight,
                "queued": s.waiting,
                "admitted": s.admitted,
                "rejected": s.rejected,
                "wait_p50_ms": round(waits[len(waits) // 2] * 1000, 2) if waits else 0.0,
                "wait_p95_ms": round(waits[int(len(waits) * 0.95)] * 1000, 2) if waits else 0.0,
            }
        return out
