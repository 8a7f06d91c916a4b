"""ASGI responses the emulator needs beyond Starlette's: timed streams, dropped connections, hangs.

Each watches for the client going away, so an abandoned completion stops counting as in flight at once,
and each calls `on_close` exactly once however it ends. A finished response calls it just before its last
byte goes out, as a real upstream is done once it has written the end: a client that reads the end and at
once sends its next request finds the chat free and the in-flight count already down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from qwen_server.emulator.timeline import Step

_FLUSH_BYTES = 16_384
_JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class TimedResponse:
    """Send `steps` with their waits (writes with no wait between them are coalesced into one).

    `complete=False` leaves the body unfinished, so the server closes the connection mid-response;
    `steps=None` never answers at all (a hang) until the client gives up.
    """

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        steps: Sequence[Step] | None,
        on_close: Callable[[], None],
        complete: bool = True,
    ) -> None:
        self.status, self.headers, self.steps = status, headers, steps
        self.complete = complete
        self._on_close = on_close
        self._closed = False

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        writer = asyncio.ensure_future(self._write(send)) if self.steps is not None else None
        try:
            waiting = {watcher} if writer is None else {watcher, writer}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if writer in done and writer is not None:
                writer.result()  # re-raise a bug in the writer instead of hiding it
        finally:
            watcher.cancel()
            if writer is not None:
                writer.cancel()
            self._close()

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        buffer = b""
        assert self.steps is not None
        for step in self.steps:
            if step.wait > 0:
                if buffer:
                    await send({"type": "http.response.body", "body": buffer, "more_body": True})
                    buffer = b""
                await asyncio.sleep(step.wait)
            buffer += step.data
            if len(buffer) >= _FLUSH_BYTES:
                await send({"type": "http.response.body", "body": buffer, "more_body": True})
                buffer = b""
        if self.complete:
            self._close()
            await send({"type": "http.response.body", "body": buffer, "more_body": False})
        elif buffer:
            await send({"type": "http.response.body", "body": buffer, "more_body": True})
