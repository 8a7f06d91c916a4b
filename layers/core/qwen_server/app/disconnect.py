"""Noticing a client that leaves before the response starts, and one that stops reading after it has.

uvicorn does not cancel a handler that has not started responding when its client disconnects, so a request
waiting in the queue (or for a slow non-streamed answer) would go on to the upstream for nobody.
`unless_client_leaves` races the work against `http.disconnect` and cancels the work when the client wins;
the work's own cleanup (leaving the queue, freeing the account slot) runs as it does for any cancellation.

Once a stream has started, Starlette cancels it on disconnect by itself. What it cannot see is a client that
keeps the connection open but stops reading: `send` then blocks forever once the socket buffers are full,
holding an account slot. `DeadlineStreamingResponse` gives every write a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Send

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError

log = logging.getLogger("qwen_server")
T = TypeVar("T")


class ClientClosedRequest(GatewayError):
    """The client went away before its answer; nothing will read this error (499, as nginx logs it)."""

    status = 499
    type = "client_closed_request"
    code = "client_closed_request"


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """The result of `work`, unless the client disconnects first: then `work` is cancelled, allowed to clean
    up, and `ClientClosedRequest` is raised. Call it only after the request body has been read.

    `work` runs inline in the handler's task; one watcher task cancels that task if `http.disconnect`
    comes first (it cannot once `work` is done: the watcher is cancelled before anything else runs)."""
    handler = asyncio.current_task()
    left = False

    async def watch() -> None:
        nonlocal left
        await _disconnected(request.receive)
        left = True
        if handler is not None:
            handler.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not left or handler is None:
            raise
        handler.uncancel()
        raise ClientClosedRequest("the client closed the connection before the answer was ready") from None
    finally:
        watcher.cancel()


class DeadlineStreamingResponse(StreamingResponse):
    """A streamed response whose every write must complete within `write_timeout` seconds.

    A client that stops reading is cut off (the stream is closed, which frees its upstream and account
    slot) instead of pinning them for as long as it keeps the connection open. One timer per response
    looks every half deadline at the write in progress, so a write costs two assignments, not a timeout
    scope of its own (that was an eighth of a streamed request's CPU)."""

    def __init__(self, *args: Any, write_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_timeout = write_timeout

    async def stream_response(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        writing_since: float | None = None
        cut = False
        timer: asyncio.TimerHandle | None = None

        async def timed_send(message: Message) -> None:
            nonlocal writing_since
            writing_since = loop.time()
            await send(message)
            writing_since = None

        def look() -> None:
            nonlocal cut, timer
            if writing_since is not None and loop.time() - writing_since >= self.write_timeout:
                cut = True
                if task is not None:
                    task.cancel()
                return
            timer = loop.call_later(self.write_timeout / 2, look)

        timer = loop.call_later(self.write_timeout / 2, look)
        try:
            await super().stream_response(timed_send)
        except asyncio.CancelledError:
            if not cut or task is None:
                raise
            task.uncancel()
            log.warning("the client read nothing for %ss; the stream was cut off", self.write_timeout)
        finally:
            if timer is not None:
                timer.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await cleanup.complete(aclose())
