"""The upstream transport over any `httpx.AsyncClient`: how unit tests put `httpx.MockTransport` under the
providers, and a fallback where aiohttp is not wanted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from qwen_server.core.errors import GatewayError, UpstreamError, UpstreamTimeout
from qwen_server.providers.transport import Reply


def translate(exc: httpx.HTTPError) -> GatewayError:
    """An httpx failure as the product's error (no URL credentials, no bodies)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"the upstream did not answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return UpstreamError("the upstream closed the connection unexpectedly")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError("cannot connect to the upstream")
    return UpstreamError(f"the upstream request failed: {type(exc).__name__}")


class HttpxStreamed:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = dict(response.headers)  # httpx lower-cases names

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise translate(exc) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise translate(exc) from None

    async def close(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def fetch(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Reply:
        try:
            response = await self._client.request(method, url, headers=headers, content=content)
        except httpx.HTTPError as exc:
            raise translate(exc) from None
        cookies = response.headers.get_list("set-cookie")
        return Reply(response.status_code, dict(response.headers), response.content, cookies)

    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> HttpxStreamed:
        request = self._client.build_request(method, url, headers=headers, content=content)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise translate(exc) from None
        return HttpxStreamed(response)

    async def aclose(self) -> None:
        await self._client.aclose()
