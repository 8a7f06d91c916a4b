"""Signed blob links: a link names its blob, and a forged, altered or expired one is refused."""

from __future__ import annotations

import pytest

from qwen_server.blob.links import BadLink, LinkTarget, make_token, read_token, signing_secret
from qwen_server.store.memory import MemoryStore

SECRET = b"s" * 32


def test_a_link_reads_back_what_was_signed() -> None:
    target = LinkTarget("images/t/abc.png", "image/png", "abc.png", 2_000_000_000)
    assert read_token(SECRET, make_token(SECRET, target), now=1_000) == target


def test_expired_forged_and_altered_links_are_refused() -> None:
    token = make_token(SECRET, LinkTarget("k", "image/png", None, 100))
    with pytest.raises(BadLink, match="expired"):
        read_token(SECRET, token, now=101)
    with pytest.raises(BadLink):
        read_token(b"other secret", token, now=0)
    payload, _, signature = token.partition(".")
    other = make_token(SECRET, LinkTarget("other-key", "image/png", None, 100)).partition(".")[0]
    with pytest.raises(BadLink):
        read_token(SECRET, f"{other}.{signature}", now=0)
    for broken in ("", "abc", f"{payload}.", f".{signature}"):
        with pytest.raises(BadLink):
            read_token(SECRET, broken, now=0)


@pytest.mark.anyio
async def test_the_stored_secret_is_shared_and_the_configured_one_wins() -> None:
    store = MemoryStore()
    first = await signing_secret(None, store)
    assert len(first) == 32 and await signing_secret(None, store) == first
    assert await signing_secret("configured", store) == b"configured"
