"""Blob links: a link is an opaque id with a signature; it serves what its record names until it expires, and a
forged, altered or unknown one is refused (end to end, with the images it serves, in tests/images)."""

from __future__ import annotations

import pytest

from qwen_server.blob.links import (
    BadLink,
    LinkTarget,
    link_id,
    load_link,
    new_token,
    save_link,
    signing_secret,
)
from qwen_server.store.memory import MemoryStore

SECRET = b"s" * 32


@pytest.mark.anyio
async def test_a_link_reads_back_what_was_saved_until_it_expires() -> None:
    store = MemoryStore()
    target = LinkTarget("images/key-0123456789ab/abc.png", "image/png", "abc.png", 2_000)
    found, token = new_token(SECRET)
    await save_link(store, found, target, now=1_000)
    assert link_id(SECRET, token) == found
    assert "key-0123456789ab" not in token and "images" not in token
    assert await load_link(store, found, now=1_500) == target
    with pytest.raises(BadLink, match="expired"):
        await load_link(store, found, now=2_001)
    with pytest.raises(BadLink):
        await load_link(store, new_token(SECRET)[0], now=1_500)  # signed, but never made


def test_forged_altered_and_malformed_tokens_are_refused() -> None:
    found, token = new_token(SECRET)
    _, _, signature = token.partition(".")
    with pytest.raises(BadLink):
        link_id(b"other secret", token)
    other = new_token(SECRET)[0]
    for broken in ("", "abc", f"{found}.", f".{signature}", f"{other}.{signature}", "abc.é", f"{found}.{signature}é"):
        with pytest.raises(BadLink):
            link_id(SECRET, broken)


@pytest.mark.anyio
async def test_the_stored_secret_is_shared_and_the_configured_one_wins() -> None:
    store = MemoryStore()
    first = await signing_secret(None, store)
    assert len(first) == 32 and await signing_secret(None, store) == first
    assert await signing_secret("configured", store) == b"configured"
