"""Waiting for a condition with a deadline in seconds, never for a fixed time: on a loaded machine things
happen late, so a test waits until they have happened, and fails only when they never do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

DEADLINE = 30.0  # seconds: far beyond what any of these conditions needs, even on a busy two-core machine


async def until(predicate: Callable[[], Awaitable[Any]], within: float = DEADLINE, what: str = "") -> None:
    """Poll the async `predicate` until it is truthy; an AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, f"not reached within {within:g} s: {what or predicate}"
        await asyncio.sleep(0.005)


def eventually(predicate: Callable[[], Any], within: float = DEADLINE, what: str = "") -> None:
    """`until` for synchronous code (a test talking HTTP to a server process)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"not reached within {within:g} s: {what or predicate}"
        time.sleep(0.05)
