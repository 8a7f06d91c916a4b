"""One shared `httpx.AsyncClient` per upstream base URL: keep-alive connections reused across requests.

Upstream I/O errors are translated here, once, into the product's error tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from qwen_server.core.errors import GatewayError, UpstreamError, UpstreamTimeout


class ClientRegistry:
    def __init__(
        self,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=30.0)
        self._transport = transport

    def get(self, base_url: str) -> httpx.AsyncClient:
        parts = urlsplit(base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        client = self._clients.get(origin)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=60),
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients[origin] = client
        return client

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
    except (TimeoutError, httpx.HTTPError):
        return


def translate_transport_error(exc: Exception, upstream: str) -> GatewayError:
    """Map an httpx exception to the product's error tree (no URL credentials, no bodies)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{upstream} did not answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return UpstreamError(f"{upstream} closed the connection unexpectedly")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(f"cannot connect to {upstream}")
    return UpstreamError(f"{upstream} request failed: {type(exc).__name__}")
