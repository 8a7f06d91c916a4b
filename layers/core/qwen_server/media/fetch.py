"""The guarded fetcher: the one place the gateway reads a URL a client gave it.

- http and https only; no credentials in the URL; at most `MAX_REDIRECTS` redirects, each one checked again
  from the start (scheme, host, addresses).
- The host must be a canonical IP literal or a valid DNS name (`addresses.host_refusal`): numeric spellings
  such as `127.1` or `2130706433` never reach the HTTP library, which might read them as addresses.
- The host name is resolved once per connection by `_GuardedResolver`, every address it resolves to is
  checked (`addresses.refusal`), and the connection goes to the checked address: a name that answers a public
  address to the check and a private one to the connect (DNS rebinding) cannot slip through. An IP literal in
  the URL is checked before any connection.
- The body is read up to the kind's size cap (`limits.MAX_BYTES`) and no further; connect and total timeouts.
- The content type is sniffed from the bytes; the server's header only names a text type for text.

`FETCH_ALLOW_PRIVATE_NETWORKS=true` turns the address checks off (a gateway on a trusted network);
`FETCH_ALLOWED_HOSTS` lists `host` or `host:port` entries whose addresses are not checked (a local file
server). Every refusal is a 400 naming the content part (`param`).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind
from qwen_server.core.numbers import whole_number
from qwen_server.media import addresses, limits

if TYPE_CHECKING:
    from qwen_server.config import Settings

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    timeout: float = 30.0
    connect_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        hosts = frozenset(
            h.strip().lower() for h in (settings.fetch_allowed_hosts or "").split(",") if h.strip()
        )
        return cls(settings.fetch_allow_private_networks, hosts, settings.fetch_timeout)

    def trusts(self, host: str, port: int) -> bool:
        host = host.lower()
        shown = f"[{host}]" if ":" in host else host
        return self.allow_private or host in self.allowed_hosts or f"{shown}:{port}" in self.allowed_hosts


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    declared_type: str | None  # the server's Content-Type, for text only: binary types are sniffed
    url: str  # after redirects


class FetchRefused(InvalidRequest):
    code = "media_url_refused"


class _Refusal(Exception):
    """Raised inside aiohttp's resolver; turned into `FetchRefused` by the caller."""


def _resolver_class() -> type[Any]:
    import aiohttp
    from aiohttp.abc import AbstractResolver

    class GuardedResolver(AbstractResolver):
        """Resolves once and refuses the lot when any address is not public."""

        def __init__(self, policy: FetchPolicy) -> None:
            self._inner = aiohttp.ThreadedResolver()
            self._policy = policy

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[Any]:
            results = await self._inner.resolve(host, port, family)
            if not self._policy.trusts(host, port):
                for result in results:
                    reason = addresses.refusal(result["host"])
                    if reason is not None:
                        raise _Refusal(f"{host} resolves to {result['host']}, {reason}")
            return list(results)

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver


def _check_url(url: str, policy: FetchPolicy, param: str) -> None:
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - parsing the host may fail on its own
    except ValueError:
        raise FetchRefused("the URL is malformed", param=param) from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(
            f"only http and https URLs can be fetched, not {parts.scheme or 'this'!r}", param=param
        )
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not fetched", param=param)
    host = parts.hostname or ""
    if not host:
        raise FetchRefused("the URL has no host", param=param)
    bad_host = addresses.host_refusal(host)
    if bad_host is not None:
        raise FetchRefused(
            f"the URL's host {host[:100]!r} is {bad_host}; only DNS names and IP addresses in their "
            "canonical form are fetched",
            param=param,
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchRefused("the URL's port is not valid", param=param) from None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked by the resolver, address by address
    if not policy.trusts(host, port):
        reason = addresses.refusal(host)
        if reason is not None:
            raise FetchRefused(f"the URL points at {host}, {reason}; it is not fetched", param=param)


async def fetch(url: str, kind: MediaKind, param: str, policy: FetchPolicy | None = None) -> Fetched:
    """The body at `url` (following checked redirects), at most the kind's size cap."""
    import aiohttp

    policy = policy or FetchPolicy()  # no policy handed down: the strict one
    timeout = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=policy.connect_timeout)
    connector = aiohttp.TCPConnector(resolver=_resolver_class()(policy), use_dns_cache=False, limit=4)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, policy, param)
                async with session.get(
                    url, allow_redirects=False, headers={"accept": "*/*", "user-agent": "qwen-server-fetch"}
                ) as response:
                    if response.status in REDIRECTS and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status >= 400:
                        raise InvalidRequest(
                            f"the {kind} URL answered HTTP {response.status}",
                            param=param,
                            code="media_url_unreachable",
                        )
                    declared = whole_number(response.headers.get("content-length"))
                    if declared is not None:
                        limits.check_size(kind, declared, param)
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(CHUNK):
                        body.extend(chunk)
                        limits.check_size(kind, len(body), param)
                    return Fetched(bytes(body), response.headers.get("content-type"), str(response.url))
            raise FetchRefused(f"the {kind} URL redirected more than {MAX_REDIRECTS} times", param=param)
    except _Refusal as exc:
        raise FetchRefused(f"{exc}; it is not fetched", param=param) from None
    except TimeoutError:
        raise InvalidRequest(
            f"the {kind} URL did not answer within {policy.timeout:g}s", param=param, code="media_url_timeout"
        ) from None
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a URL the HTTP library cannot parse
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, _Refusal):
            raise FetchRefused(f"{cause}; it is not fetched", param=param) from None
        raise InvalidRequest(
            f"the {kind} URL could not be fetched ({type(exc).__name__})",
            param=param,
            code="media_url_unreachable",
        ) from None
