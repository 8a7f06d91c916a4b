"""The upstream HTTP boundary: what a provider may ask of an HTTP client, and nothing more.

Two calls: `fetch` (a whole answer: sign-in, model lists, new chats) and `open` (status and headers now, the
body as it streams). Every transport failure comes out as the product's own error (`UpstreamTimeout`,
`UpstreamError`), translated once inside the transport, so providers never see a library's exception.

Two implementations: `transport_aiohttp` serves production (measured several times faster than httpx's own
transport at the gateway's concurrency), `transport_httpx` wraps any `httpx.AsyncClient`, so unit tests swap
in `httpx.MockTransport` and exercise the providers unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(slots=True)
class Reply:
    """A whole answer. Header names are lower-cased; a repeated header keeps its last value, except
    `set-cookie`, whose values are all in `set_cookies`."""

    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return orjson.loads(self.body)


class Streamed(Protocol):
    """An answer whose body is still arriving. `close` hands the connection back for reuse when the body was
    read to its end, and drops it otherwise."""

    status: int
    headers: dict[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class Upstream(Protocol):
    """One upstream origin's client, with its connection pool."""

    async def fetch(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Reply: ...

    async def open(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> Streamed: ...

    async def aclose(self) -> None: ...
