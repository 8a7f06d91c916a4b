"""CPU-heavy work (tokenising a long prompt, parsing a long batch line) in a worker thread, so the event loop
keeps answering every other request meanwhile.

At most `WORKERS` such jobs run at once per event loop: a flood of large requests queues here instead of
taking the whole thread pool, which file and blob I/O share. Small work should stay on the loop: a thread hop
costs more than it saves below a few tens of kilobytes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")
WORKERS = 2
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def run(work: Callable[[], T]) -> T:
    """`work()` in a worker thread, once one of the `WORKERS` places is free."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(WORKERS)
    return await anyio.to_thread.run_sync(work, limiter=limiter)
