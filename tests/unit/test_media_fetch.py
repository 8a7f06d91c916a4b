"""The guarded fetcher over real sockets against a local file server: names and numeric forms that reach
loopback are refused by the resolver, allowlisted hosts are read, redirects are checked again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from qwen_server.core.errors import InvalidRequest
from qwen_server.media.fetch import FetchPolicy, fetch
from tests.media_server import PNG, media_server


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with media_server() as (url, _):
        yield url


def refused(url: str, policy: FetchPolicy | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(fetch(url, "image", "messages.0.content.0.image_url.url", policy or FetchPolicy()))
    assert caught.value.param == "messages.0.content.0.image_url.url"
    return caught.value


@pytest.mark.parametrize("host", ["localhost", "0x7f000001", "2130706433", "127.1"])
def test_loopback_by_any_spelling_is_never_fetched(base: str, host: str) -> None:
    port = base.rpartition(":")[2]
    error = refused(f"http://{host}:{port}/cat.png")
    assert error.code in ("media_url_refused", "media_url_unreachable")


def test_allowlisted_host_is_read_and_typed_by_its_bytes(base: str) -> None:
    policy = FetchPolicy(allowed_hosts=frozenset({base.removeprefix("http://")}))
    fetched = asyncio.run(fetch(f"{base}/cat.png", "image", "p", policy))
    assert fetched.data == PNG
    opted_out = asyncio.run(fetch(f"{base}/cat.png", "image", "p", FetchPolicy(allow_private=True)))
    assert opted_out.data == PNG


def test_redirects_are_checked_again_and_sizes_capped(base: str) -> None:
    port = base.rpartition(":")[2]
    policy = FetchPolicy(allowed_hosts=frozenset({base.removeprefix("http://")}))
    error = refused(f"{base}/redirect?to=http://localhost:{port}/cat.png", policy)
    assert error.code == "media_url_refused" and "loopback" in error.message
    error = refused(f"{base}/redirect?to=http://169.254.169.254/", policy)
    assert error.code == "media_url_refused"
    assert refused(f"{base}/chunked-big.png", policy).code == "media_too_large"
    assert refused(f"{base}/missing.png", policy).code == "media_url_unreachable"
