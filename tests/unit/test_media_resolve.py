"""Resolving parts: the file source is handed in (the runtime hands the Files API), kinds are checked by bytes."""

from __future__ import annotations

import asyncio

import pytest

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaPart
from qwen_server.media.resolve import StoredFile, resolve_part

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


async def store(file_id: str, tenant: str) -> StoredFile | None:
    if file_id == "file-1" and tenant == "alice":
        return StoredFile(PNG, "image/png", "photo.png")
    return None


def test_the_source_handed_in_answers_file_ids_for_its_tenant() -> None:
    part = MediaPart("document", file_id="file-1", param="messages.0.content.0.file.file_id")
    asyncio.run(resolve_part(part, "alice", files=store))
    assert (part.data, part.media_type, part.kind, part.filename) == (PNG, "image/png", "image", "photo.png")
    other = MediaPart("image", file_id="file-1", param="p")
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(resolve_part(other, "bob", files=store))  # another tenant's file is unknown to bob
    assert caught.value.code == "file_not_found" and caught.value.param == "p"


def test_without_a_source_a_file_id_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(resolve_part(MediaPart("image", file_id="file-1", param="p"), "alice"))
    assert caught.value.status == 400 and "file-1" in caught.value.message


def test_declared_kinds_are_checked_against_the_bytes() -> None:
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(resolve_part(MediaPart("audio", data=PNG, param="p"), "t"))
    assert caught.value.code == "unsupported_media_type" and "image/png" in caught.value.message
    with pytest.raises(InvalidRequest):
        asyncio.run(resolve_part(MediaPart("image", data=b"\x00\x01\x02\x03", param="p"), "t"))
    text = MediaPart("document", url="data:text/markdown,%23%20Title", param="p")
    asyncio.run(resolve_part(text, "t"))
    assert (text.data, text.media_type, text.filename) == (b"# Title", "text/markdown", "document.md")
