"""A minimal Chrome DevTools protocol client over aiohttp's WebSocket: commands and their answers."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import orjson


class CDPError(RuntimeError):
    pass


class CDP:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            payload = orjson.loads(message.data)
            future = self._pending.pop(payload.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(payload)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CDPError("the browser closed the DevTools connection"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, wait: float = 30.0
    ) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_str(orjson.dumps(message).decode())
        answer = await asyncio.wait_for(future, wait)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error'].get('message', 'failed')}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        return result.get("result", {}).get("value")

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()
