"""Sniffing, the web turn rules, data: URLs, the upload cache and the files[] entry shapes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart
from qwen_server.media import datauri, limits, sniff
from qwen_server.providers.qwen_web.upload import UploadCache, files_entry, safe_filename, url_seconds
from qwen_server.store.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0....", "image/jpeg"),
        (b"GIF89a..", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x03\x00", "audio/mpeg"),
        (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
        (b"\x00\x00\x00\x18ftypM4A ", "audio/mp4"),
        (b"%PDF-1.7", "application/pdf"),
        (b"hello, world", None),
    ],
)
def test_sniffing(data: bytes, expected: str | None) -> None:
    assert sniff.sniff(data) == expected


def test_text_is_text_and_binary_is_unknown() -> None:
    assert sniff.media_type_of(b"# title\n", "text/markdown") == "text/markdown"
    assert sniff.media_type_of(b"plain", "image/png") == "text/plain"  # a declared type is not believed
    assert sniff.media_type_of(b"\x00\x01\x02\xff", None) is None
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert sniff.media_type_of(b"PK\x03\x04rest", docx) == docx  # a zip container keeps its declared type
    assert sniff.media_type_of(b"PK\x03\x04rest", "image/png") == "application/zip"


def parts(*kinds: MediaKind) -> list[MediaPart]:
    return [MediaPart(kind, data=b"x", param=f"messages.0.content.{i}") for i, kind in enumerate(kinds)]


def test_web_turn_rules() -> None:
    limits.check_web_turn(parts(*["image"] * 5, *["document"] * 5))
    with pytest.raises(InvalidRequest) as caught:
        limits.check_web_turn(parts(*["image"] * 6))
    assert caught.value.param == "messages.0.content.5" and caught.value.code == "too_many_media"
    with pytest.raises(InvalidRequest):
        limits.check_web_turn(parts(*["document"] * 5), extra_documents=1)  # the conversation file counts
    for mix in (("image", "audio"), ("image", "video"), ("audio", "video")):
        with pytest.raises(InvalidRequest) as caught:
            limits.check_web_turn(parts(*mix))  # type: ignore[arg-type]
        assert caught.value.code == "media_mix_not_supported"
    limits.check_web_turn(parts("audio", "document"))


def test_data_urls() -> None:
    assert datauri.parse_data_url("data:image/png;base64,iVBORw0KGgo=") == (b"\x89PNG\r\n\x1a\n", "image/png")
    assert datauri.parse_data_url("data:,hello%20there") == (b"hello there", None)
    for bad in ("data:image/png;base64", "data:image/png;base64,@@@", "http://x"):
        with pytest.raises(ValueError):
            datauri.parse_data_url(bad)


@pytest.mark.anyio
async def test_upload_cache_reuses_only_while_the_url_is_valid() -> None:
    now = [1000.0]
    cache = UploadCache(clock=lambda: now[0])
    await cache.put("acc", "d1", {"type": "image"}, 300)
    assert await cache.get("acc", "d1") == {"type": "image"} and await cache.get("other", "d1") is None
    now[0] += 239
    assert await cache.get("acc", "d1") is not None
    now[0] += 2  # less than a minute of validity left: upload again
    assert await cache.get("acc", "d1") is None


@pytest.mark.anyio
async def test_an_upload_is_reused_by_another_instance_through_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"))
    try:
        made_it, other = UploadCache(store=store), UploadCache(store=store)
        await made_it.put("acc", "d1", {"type": "image", "url": "u"}, 300)
        assert await other.get("acc", "d1") == {"type": "image", "url": "u"}
        assert await other.get("acc", "d2") is None and await other.get("acc2", "d1") is None
        now = [time.time() + 241]  # the same entry, read when less than a minute of validity is left
        assert await UploadCache(store=store, clock=lambda: now[0]).get("acc", "d1") is None
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("image", ("image", "image", "vision")),
        ("video", ("video", "video", "video")),
        ("audio", ("audio", "audio", "audio")),
        ("document", ("file", "file", "document")),
    ],
)
def test_files_entry_shape_per_kind(kind: MediaKind, shape: tuple[str, str, str]) -> None:
    sts = {"file_id": "f1", "file_url": "https://b.example/u/f1_x?x-oss-expires=300"}
    entry = files_entry(kind, sts, filename="x", size=3, media_type="image/png", now_ms=1)
    assert (entry["type"], entry["showType"], entry["file_class"]) == shape
    assert entry["id"] == entry["file"]["id"] == "f1" and entry["url"] == sts["file_url"]
    assert entry["status"] == "uploaded" and entry["file"]["meta"]["size"] == 3


def test_names_and_url_lifetimes() -> None:
    assert safe_filename("my report (final).pdf", "d") == "my_report_final_.pdf"
    assert safe_filename("报告", "document.bin") == "document.bin"
    assert url_seconds("https://x/y?x-oss-expires=120&x") == 120 and url_seconds("https://x/y") == 300
