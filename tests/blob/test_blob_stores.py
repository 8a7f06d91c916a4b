"""The blob store's behaviour on every backend: local files, S3 (moto's server) and Vercel Blob (a stand-in
for its REST API, tests/vercel_blob_server.py), each over real HTTP."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from qwen_server.blob import BlobError, BlobNotFound, BlobStore, BlobTooLarge, open_blob_store
from qwen_server.blob import s3 as s3_backend
from qwen_server.blob import vercel as vercel_backend
from qwen_server.blob.base import open_found
from qwen_server.core.errors import Misconfigured
from tests.processes import Service, start_vercel_blob
from tests.services import moto_env, moto_service

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_service() as endpoint:
        yield endpoint


TOKEN = "vercel_blob_rw_store1_secret"


@pytest.fixture(scope="module")
def vercel_blob() -> Iterator[Service]:
    service = start_vercel_blob(TOKEN)
    yield service
    service.stop()


@pytest.fixture(params=["file", "s3", "vercel-blob"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    if request.param == "file":
        return open_blob_store(f"file://{tmp_path / 'blobs'}", tmp_path)
    if request.param == "vercel-blob":
        server = request.getfixturevalue("vercel_blob")
        prefix = f"p{uuid.uuid4().hex[:8]}"
        return open_blob_store(
            f"vercel-blob://{prefix}", tmp_path, vercel_token=TOKEN, vercel_api_url=f"{server.url}/api/blob"
        )
    endpoint = request.getfixturevalue("moto_endpoint")
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return open_blob_store(f"s3://{bucket}/some/prefix", tmp_path, s3_endpoint_url=endpoint)


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(blobs: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in blobs.open(key, chunk_size=1000)])


async def test_round_trip_small(blobs: BlobStore) -> None:
    info = await blobs.put_bytes("files/t1/a", b"hello", "text/plain")
    assert info.size == 5 and info.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert await blobs.read("files/t1/a") == b"hello"
    assert await read_all(blobs, "files/t1/a") == b"hello"
    assert await blobs.size("files/t1/a") == 5


async def test_streamed_write_larger_than_one_part(blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_backend, "PART_BYTES", 5 * 1024 * 1024)  # S3's minimum part, to keep the test small
    monkeypatch.setattr(vercel_backend, "PART_BYTES", 5 * 1024 * 1024)  # Vercel Blob's minimum too
    data = os.urandom(11 * 1024 * 1024 + 17)
    info = await blobs.put("big", chunks_of(data, 300_000), "application/octet-stream")
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(blobs, "big") == data


async def test_oversize_write_keeps_nothing(blobs: BlobStore) -> None:
    await blobs.put_bytes("k", b"old")
    with pytest.raises(BlobTooLarge):
        await blobs.put("k2", chunks_of(b"x" * 5000, 100), limit=4096)
    assert await blobs.size("k2") is None
    assert await blobs.read("k") == b"old"


async def test_replace_delete_and_absent(blobs: BlobStore) -> None:
    await blobs.put_bytes("k", b"one")
    await blobs.put_bytes("k", b"two")
    assert await blobs.read("k") == b"two"
    await blobs.delete("k")
    await blobs.delete("k")  # absent is fine
    assert await blobs.size("k") is None
    with pytest.raises(BlobNotFound):
        await blobs.read("k")
    with pytest.raises(BlobNotFound):
        await read_all(blobs, "k")


async def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    blobs = open_blob_store(None, tmp_path)
    with pytest.raises(ValueError):
        await blobs.put_bytes("../outside", b"x")
    assert not (tmp_path / "outside").exists()
    await blobs.put_bytes("inside/x", b"x")
    assert (tmp_path / "blobs" / "inside" / "x").read_bytes() == b"x"


async def test_open_found_says_absent_before_the_first_chunk(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await open_found(blobs, "never-written")
    await blobs.put_bytes("empty", b"")
    assert b"".join([c async for c in await open_found(blobs, "empty")]) == b""
    data = os.urandom(3000)
    await blobs.put_bytes("some", data)
    assert b"".join([c async for c in await open_found(blobs, "some", chunk_size=1000)]) == data


DAY = 86400.0


async def test_local_blobs_are_swept_when_their_expiry_passes(tmp_path: Path) -> None:
    """The sweep is given the time (no clock is read): each blob goes once its expiry is behind `now`; a blob
    written without one, or whose expiry was removed, stays."""
    await _swept_when_due(open_blob_store(None, tmp_path))


async def test_vercel_blobs_are_swept_when_their_expiry_passes(tmp_path: Path, vercel_blob: Service) -> None:
    """Vercel Blob has no lifecycle rules: its blobs carry expiry marks that the sweep reads, as local files do."""
    api = f"{vercel_blob.url}/api/blob"
    await _swept_when_due(open_blob_store("vercel-blob://sweep", tmp_path, vercel_token=TOKEN, vercel_api_url=api))


async def _swept_when_due(blobs: BlobStore) -> None:
    now = 1_800_000_000.0
    await blobs.put_bytes("images/t/a.png", b"image", "image/png", expires_at=now + 3600)
    await blobs.put("batches/t/b/chunk-0.jsonl", chunks_of(b"z" * 10, 3), expires_at=now + 5 * DAY)
    await blobs.put_bytes("files/t/kept", b"kept")
    await blobs.put_bytes("files/t/late", b"late")
    await blobs.set_expiry("files/t/late", now + 40 * DAY)  # its `expires_after` came with the form
    await blobs.put_bytes("files/t/renewed", b"r", expires_at=now + 60)
    await blobs.put_bytes("files/t/renewed", b"r2")  # rewritten without an expiry: kept
    await blobs.put_bytes("files/t/gone", b"g", expires_at=now + 60)
    await blobs.delete("files/t/gone")  # deleted first: its mark goes with it

    assert await blobs.sweep(now) == 0
    assert await blobs.sweep(now + 3601) == 1
    assert await blobs.size("images/t/a.png") is None and await blobs.read("files/t/late") == b"late"
    assert await blobs.sweep(now + 41 * DAY) == 2
    for key in ("batches/t/b/chunk-0.jsonl", "files/t/late"):
        assert await blobs.size(key) is None
    assert await blobs.read("files/t/kept") == b"kept" and await blobs.read("files/t/renewed") == b"r2"
    assert await blobs.sweep(now + 3650 * DAY) == 0
    with pytest.raises(ValueError):  # the marks are not blobs
        await blobs.put_bytes(".expiry/files/t/kept", b"0")


async def test_s3_blobs_carry_the_lifecycle_tag_of_their_expiry(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 reclaims by the bucket's lifecycle rules: each blob is tagged with the first step covering its life,
    in one request (small and multipart writes alike); one without an expiry has no tag."""
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(s3_backend, "PART_BYTES", 5 * 1024 * 1024)
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    now = 1_800_000_000.0
    blobs = s3_backend.S3BlobStore(bucket, "p", endpoint_url=moto_endpoint, clock=lambda: now)
    await blobs.put_bytes("images/t/a.png", b"image", expires_at=now + 3600)
    await blobs.put("batches/big", chunks_of(os.urandom(6 * 1024 * 1024), 1 << 20), expires_at=now + 5 * DAY)
    await blobs.put_bytes("responses/t/r", b"{}", expires_at=now + 30 * DAY)
    await blobs.put_bytes("files/t/kept", b"kept")
    await blobs.put_bytes("files/t/late", b"late")
    await blobs.set_expiry("files/t/late", now + 40 * DAY)
    await blobs.put_bytes("files/t/ages", b"x", expires_at=now + 4000 * DAY)  # past the last step: kept

    def tags(key: str) -> dict[str, str]:
        reply = boto3.client("s3", endpoint_url=moto_endpoint).get_object_tagging(Bucket=bucket, Key=f"p/{key}")
        return {t["Key"]: t["Value"] for t in reply["TagSet"]}

    assert tags("images/t/a.png") == {"qwen-expiry": "1d"}
    assert tags("batches/big") == {"qwen-expiry": "7d"}
    assert tags("responses/t/r") == {"qwen-expiry": "30d"}
    assert tags("files/t/late") == {"qwen-expiry": "60d"}
    assert tags("files/t/kept") == {} and tags("files/t/ages") == {}
    assert await blobs.sweep(now + 3650 * DAY) == 0  # S3 runs the rules itself
    assert await blobs.read("images/t/a.png") == b"image"


def test_the_token_alone_selects_vercel_blob_and_a_wrong_one_is_refused(
    tmp_path: Path, vercel_blob: Service
) -> None:
    api = f"{vercel_blob.url}/api/blob"
    chosen = open_blob_store(None, tmp_path, vercel_token=TOKEN, vercel_api_url=api)
    assert isinstance(chosen, vercel_backend.VercelBlobStore) and chosen.prefix == "qwen-server"
    with pytest.raises(Misconfigured):
        open_blob_store("vercel-blob://x", tmp_path)


async def test_vercel_blob_is_private_and_needs_its_token(tmp_path: Path, vercel_blob: Service) -> None:
    api = f"{vercel_blob.url}/api/blob"
    good = open_blob_store("vercel-blob://priv", tmp_path, vercel_token=TOKEN, vercel_api_url=api)
    await good.put_bytes("files/t/x", b"secret bytes", "text/plain")
    async with httpx.AsyncClient() as client:
        meta = (
            await client.get(api + "/", params={"url": "priv/files/t/x"},
                             headers={"authorization": f"Bearer {TOKEN}", "x-api-version": "12"})
        ).json()
        assert meta["size"] == 12 and meta["contentType"] == "text/plain"
        assert (await client.get(meta["url"])).status_code == 403  # no public URL to leak
    wrong = open_blob_store("vercel-blob://priv", tmp_path, vercel_token="nope", vercel_api_url=api)
    with pytest.raises(BlobError) as refused:
        await wrong.read("files/t/x")
    assert "403" in str(refused.value) and "nope" not in str(refused.value)
