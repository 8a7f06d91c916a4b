"""Pings during upstream silence, failures handed over, and the upstream closed when the reader stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from qwen_server.api.anthropic.keepalive import PING, Ping, with_pings
from qwen_server.core.errors import UpstreamError
from qwen_server.core.model import Event, Finish, TextDelta


async def _upstream(
    script: list[float | asyncio.Event | Event | Exception], closed: list[str]
) -> AsyncIterator[Event]:
    """Plays `script`: events, pauses (seconds, or until an asyncio.Event is set) and errors."""
    try:
        for step in script:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, asyncio.Event):
                await step.wait()
            elif isinstance(step, Exception):
                raise step
            else:
                yield step
    finally:
        closed.append("closed")


async def _drain(items: AsyncIterator[Event | Ping]) -> list[Event | Ping]:
    return [item async for item in items]


async def test_silence_becomes_pings_between_events() -> None:
    closed: list[str] = []
    resume = asyncio.Event()
    items: list[Event | Ping] = []
    pinged_at: list[float] = []
    loop = asyncio.get_running_loop()
    async for item in with_pings(_upstream([TextDelta("a"), resume, TextDelta("b"), Finish()], closed), 0.05):
        items.append(item)
        if item is PING:
            pinged_at.append(loop.time())
            if len(pinged_at) == 3:
                resume.set()  # the upstream speaks again once three pings have filled its silence
    assert items[0] == TextDelta("a") and items[-2:] == [TextDelta("b"), Finish()]
    assert set(items[1:-2]) == {PING} and len(items[1:-2]) >= 3
    assert pinged_at[2] - pinged_at[0] >= 2 * 0.05 * 0.9, "a ping per silent interval, not a flood"
    assert closed == ["closed"]


async def test_no_pings_when_events_keep_coming() -> None:
    items = await _drain(with_pings(_upstream([TextDelta("a"), 0.01, TextDelta("b")], []), 30))
    assert PING not in items


async def test_a_failure_is_raised_to_the_reader_after_what_came_before() -> None:
    seen: list[Event | Ping] = []
    with pytest.raises(UpstreamError, match="broke"):
        async for item in with_pings(_upstream([TextDelta("a"), UpstreamError("broke")], []), 1.0):
            seen.append(item)
    assert seen == [TextDelta("a")]


async def test_closing_the_reader_closes_a_silent_upstream() -> None:
    closed: list[str] = []
    items = with_pings(_upstream([TextDelta("a"), 30.0, TextDelta("never")], closed), 0.05)
    assert await anext(items) == TextDelta("a")
    assert await anext(items) is PING
    await items.aclose()
    assert closed == ["closed"]


async def test_cancelling_the_reader_closes_the_upstream() -> None:
    closed: list[str] = []
    started = asyncio.Event()

    async def read() -> None:
        async for _ in with_pings(_upstream([TextDelta("a"), 30.0], closed), 10.0):
            started.set()

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == ["closed"]
