"""Pings during upstream silence, failures handed over, and the upstream closed when the reader stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from qwen_server.api.anthropic.keepalive import PING, Ping, with_pings
from qwen_server.core.errors import UpstreamError
from qwen_server.core.model import Event, Finish, TextDelta


async def _upstream(script: list[float | Event | Exception], closed: list[str]) -> AsyncIterator[Event]:
    try:
        for step in script:
            if isinstance(step, float):
                await asyncio.sleep(step)
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
    items = await _drain(with_pings(_upstream([TextDelta("a"), 0.35, TextDelta("b"), Finish()], closed), 0.1))
    assert items[0] == TextDelta("a") and items[-2:] == [TextDelta("b"), Finish()]
    assert 2 <= items.count(PING) <= 4
    assert closed == ["closed"]


async def test_no_pings_when_events_keep_coming() -> None:
    items = await _drain(with_pings(_upstream([TextDelta("a"), 0.01, TextDelta("b")], []), 0.5))
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
