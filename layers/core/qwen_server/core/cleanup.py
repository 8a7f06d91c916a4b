"""Cleanup that finishes even when the request that owes it is being cancelled.

When a client disconnects, Starlette cancels the response task through an anyio cancel scope, and anyio
re-delivers that cancellation at *every* await inside the scope: a `finally:` block that awaits three store
calls dies at the first one, and the account slot it was about to release stays held until its lease lapses.
`complete(coro)` runs the cleanup in a task of its own, outside any cancel scope, and waits for it; if the
caller is cancelled meanwhile the caller stops waiting but the task still runs to its end. `spawn` is the
fire-and-forget form. Both keep a strong reference until the task is done and log what it raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("qwen_server")
T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, report: bool = True) -> asyncio.Task[T]:
    """Run `coro` in its own task, referenced until done; with `report` an exception it raises is logged."""
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    if report:
        task.add_done_callback(_report)
    return task


async def complete(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` to its end even if the caller is cancelled halfway (the caller still is).

    Its exception reaches the caller; if the caller was cancelled first, it is logged instead."""
    task = spawn(coro, report=False)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_report)
        raise


def pending() -> int:
    """Cleanup tasks still running (tests wait for zero; shutdown may too)."""
    return len(_running)


def _report(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background cleanup failed", exc_info=exc)
