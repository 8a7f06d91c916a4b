"""Noticing upstream silence while a stream is open, so the transport can send `ping`s.

The neutral events are pulled by one task (so the gateway's generator, its scheduler slot and its pool
bookkeeping stay in one task from start to end) into a small queue; the reader waits on the queue with a
timeout and gets `PING` each time `interval` seconds pass with nothing to report. Closing the reader
cancels the pulling task, which closes the gateway's generator and releases everything it holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final, cast

from qwen_server.core import cleanup
from qwen_server.core.model import Event

log = logging.getLogger("qwen_server")


class Ping:
    def __repr__(self) -> str:
        return "PING"


PING: Final = Ping()
_END: Final = object()
_QUEUE_SIZE = 16  # keeps back-pressure: the upstream is not read far ahead of a slow client


async def _pull(events: AsyncIterator[Event], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    except Exception as exc:  # handed to the reader, which raises it in its own task
        await queue.put(exc)
        return
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())
    await queue.put(_END)


async def with_pings(events: AsyncIterator[Event], interval: float) -> AsyncGenerator[Event | Ping, None]:
    """The events, with `PING` whenever `interval` seconds pass without one; exceptions re-raised."""
    queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_SIZE)
    puller = asyncio.create_task(_pull(events, queue))
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield PING
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(Event, item)
    finally:
        if not puller.done():
            puller.cancel()
        # wait without passing our own cancellation on: `await puller` would cancel the puller again in the
        # middle of its cleanup when this reader is itself being cancelled (a client that went away)
        await asyncio.wait({puller})
        if not puller.cancelled() and puller.exception() is not None:
            # closing the upstream failed after the answer was decided: log, do not mask
            log.error("closing the upstream stream failed", exc_info=puller.exception())
