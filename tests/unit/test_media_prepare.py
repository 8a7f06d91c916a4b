"""A request's media prepared once: what a request may make the gateway read is refused from metadata before
anything is read, and a file named by many parts is read once. The file source here counts its reads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ChatRequest, MediaPart, Message, TextPart
from qwen_server.media import limits
from qwen_server.media.capability import ModelCapabilities
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.prepare import prepare
from qwen_server.media.resolve import StoredFile

MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(32)


@dataclass
class CountingFiles:
    """Files by id, each with a recorded size (what metadata says) and a few real bytes."""

    files: dict[str, tuple[int, bytes]]
    lookups: int = 0
    heads: int = 0
    reads: list[str] = field(default_factory=list)

    async def __call__(self, file_id: str, tenant: str) -> StoredFile | None:
        self.lookups += 1
        if file_id not in self.files:
            return None
        size, data = self.files[file_id]

        async def read() -> bytes:
            self.reads.append(file_id)
            return data

        async def head(n: int) -> bytes:
            self.heads += 1
            return data[:n]

        return StoredFile(size, None, None, read, head)


async def no_table() -> ModelCapabilities:
    return ModelCapabilities({})


def request_with(parts: list[MediaPart]) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [*parts, TextPart("look")])], tenant="t")


def run(parts: list[MediaPart], files: CountingFiles) -> None:
    asyncio.run(prepare(request_with(parts), no_table, FetchPolicy(), files))


def test_twenty_parts_naming_one_oversize_file_read_nothing() -> None:
    files = CountingFiles({"big": (100 * MB, PNG)})
    parts = [MediaPart("image", file_id="big", param=f"p{i}") for i in range(20)]
    with pytest.raises(InvalidRequest) as refused:
        run(parts, files)
    assert refused.value.code == "media_too_large" and refused.value.param == "p0"
    assert files.reads == [] and files.lookups == 1


def test_a_file_named_by_many_parts_is_read_once_and_shared() -> None:
    files = CountingFiles({"dot": (len(PNG), PNG)})
    parts = [MediaPart("image", file_id="dot", param=f"p{i}") for i in range(6)]
    run(parts, files)
    assert files.reads == ["dot"] and files.lookups == 1
    assert all(p.data is parts[0].data and p.media_type == "image/png" for p in parts)


def test_too_many_parts_are_refused_before_any_lookup() -> None:
    files = CountingFiles({"dot": (len(PNG), PNG)})
    parts = [MediaPart("image", file_id="dot", param=f"p{i}") for i in range(limits.MAX_PARTS + 1)]
    with pytest.raises(InvalidRequest) as refused:
        run(parts, files)
    assert refused.value.code == "too_many_media" and refused.value.param == f"p{limits.MAX_PARTS}"
    assert files.lookups == 0 and files.reads == []


def test_distinct_files_over_the_request_total_read_nothing() -> None:
    count = limits.MAX_TOTAL_BYTES // (20 * MB) + 1
    files = CountingFiles({f"f{i}": (20 * MB, PNG) for i in range(count)})
    with pytest.raises(InvalidRequest) as refused:
        run([MediaPart("image", file_id=f"f{i}", param=f"p{i}") for i in range(count)], files)
    assert refused.value.code == "media_too_large" and "request" in refused.value.message
    assert files.reads == []


def test_a_generic_file_takes_the_cap_its_first_bytes_say() -> None:
    video = CountingFiles({"clip": (50 * MB, MP4)})  # over the document cap, within the video cap
    part = MediaPart("document", file_id="clip", param="p")
    run([part], video)
    assert video.heads == 1 and video.reads == ["clip"] and part.kind == "video"
    text = CountingFiles({"notes": (50 * MB, b"plain words")})
    with pytest.raises(InvalidRequest) as refused:
        run([MediaPart("document", file_id="notes", param="p")], text)
    assert refused.value.code == "media_too_large" and text.reads == []
