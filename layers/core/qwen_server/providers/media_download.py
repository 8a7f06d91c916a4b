"""Reading a result from an upstream's CDN: size-capped, and with errors that never repeat the URL (it carries
the upstream's key)."""

from __future__ import annotations

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, UpstreamError
from qwen_server.providers.http import ClientRegistry

DEFAULT_LIMIT = 64 * 1024 * 1024


async def download(clients: ClientRegistry, url: str, limit: int = DEFAULT_LIMIT) -> bytes:
    """The bytes at `url`; `UpstreamError` (without the URL) when it fails or passes `limit` bytes."""
    if not url.startswith(("https://", "http://")):
        raise UpstreamError("the upstream named a result that is not an http(s) URL")
    try:
        response = await clients.get(url).open("GET", url, headers={"accept": "*/*"})
    except GatewayError as exc:
        raise UpstreamError(f"reading the upstream's result failed ({type(exc).__name__})") from None
    try:
        if response.status >= 400:
            raise UpstreamError(f"the upstream's result could not be read (HTTP {response.status})")
        parts: list[bytes] = []
        size = 0
        async for chunk in response.chunks():
            size += len(chunk)
            if size > limit:
                raise UpstreamError(f"the upstream's result is larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)
    except UpstreamError:
        raise
    except GatewayError as exc:
        raise UpstreamError(f"reading the upstream's result failed ({type(exc).__name__})") from None
    finally:
        await cleanup.complete(response.close())
