"""One upstream client per origin, keep-alive connections reused across requests; draining a stream's tail.

Production uses the aiohttp transport; given an `httpx` transport (tests pass `httpx.MockTransport`), every
origin is served through httpx instead. Either way, providers see only `providers.transport`'s two calls
and the product's own errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from qwen_server.core.errors import GatewayError
from qwen_server.providers.transport import Upstream

if TYPE_CHECKING:
    import httpx


class ClientRegistry:
    def __init__(
        self,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clients: dict[str, Upstream] = {}
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._transport = transport

    def get(self, base_url: str) -> Upstream:
        parts = urlsplit(base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = self._make()
        return client

    def _make(self) -> Upstream:
        if self._transport is None:
            from qwen_server.providers.transport_aiohttp import AiohttpUpstream

            return AiohttpUpstream(self._connect_timeout, self._read_timeout)
        import httpx

        from qwen_server.providers.transport_httpx import HttpxUpstream

        timeout = httpx.Timeout(connect=self._connect_timeout, read=self._read_timeout, write=30.0, pool=30.0)
        return HttpxUpstream(
            httpx.AsyncClient(timeout=timeout, transport=self._transport, follow_redirects=False)
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


DRAIN_SECONDS = 1.0


async def drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what is left of a streamed body after its last event (`chunks`: the body iterator already in
    use), so the connection goes back to the pool for keep-alive instead of being closed; a server that
    keeps talking is cut off after a second."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, GatewayError):
        return
