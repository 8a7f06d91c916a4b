"""Uploading a file to a web account, as the web app does, for the `files[]` of a completion message.

1. `POST /api/v2/files/getstsToken` `{filename, filesize, filetype}` → short-lived STS credentials, the
   object's `file_path` in the bucket, and `file_url` (a presigned GET, valid `x-oss-expires` seconds).
2. `PUT` the bytes to `file_url` without its query, signed with those credentials: OSS V4 as the browser
   SDK does; a V4 refusal (`SignatureDoesNotMatch`) is tried once more with V1.
3. Documents only: `POST /api/v2/files/parse` `{file_id}`, then poll `POST /api/v2/files/parse/status`
   `{file_id_list}` until `success` (the web app waits for it before sending the turn).
4. The `files[]` entry, with `type` / `showType` / `file_class` by kind (`KINDS`).

Files belong to the account that uploaded them, so this runs after the account is chosen. An upload of the
same bytes on the same account is reused while its URL is valid (`UploadCache`: process memory and the
shared store).

Other web flows (image edit, image-to-video, transcription) call `WebUploader.upload_part` the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from qwen_server.core.errors import UpstreamBadRequest, UpstreamError, UpstreamTimeout
from qwen_server.core.model import MediaKind
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.qwen_web import oss_sign, protocol
from qwen_server.store.base import Store

# from `protocol.json` (patched by QWEN_PROTOCOL_OVERRIDES), read when the process starts
STS_PATH = protocol.current().path("sts_token")
PARSE_PATH = protocol.current().path("file_parse")
PARSE_STATUS_PATH = protocol.current().path("file_parse_status")


@dataclass(frozen=True, slots=True)
class KindSpec:
    filetype: str  # getstsToken's `filetype`
    type: str
    show_type: str
    file_class: str


KINDS: dict[MediaKind, KindSpec] = {
    "image": KindSpec("image", "image", "image", "vision"),
    "video": KindSpec("video", "video", "video", "video"),
    "audio": KindSpec("audio", "audio", "audio", "audio"),
    "document": KindSpec("document", "file", "file", "document"),
}
REUSE_MARGIN = 60.0  # seconds of validity an upload must have left to be reused
DEFAULT_URL_SECONDS = 300.0
PARSE_TIMEOUT = 120.0

CallJson = Callable[[Account, str, str, dict[str, Any] | None], Awaitable[Any]]
"""The provider's authenticated JSON call: (account, method, path, body) -> decoded answer."""


@dataclass(frozen=True, slots=True)
class _Cached:
    entry: dict[str, Any]
    valid_until: float


class UploadCache:
    """(account id, sha256) -> the `files[]` entry of an earlier upload, while its URL stays valid.

    Kept in process memory and, given a store, in the shared store too, so every instance (and every
    serverless cold start) reuses an upload any of them made."""

    def __init__(
        self, max_entries: int = 1024, clock: Callable[[], float] = time.time, store: Store | None = None
    ) -> None:
        self._entries: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._store = store

    async def get(self, account_id: str, digest: str) -> dict[str, Any] | None:
        cached = self._entries.get((account_id, digest))
        if cached is not None and cached.valid_until - REUSE_MARGIN > self._clock():
            return cached.entry
        self._entries.pop((account_id, digest), None)
        if self._store is None:
            return None
        raw = await self._store.get(_store_key(account_id, digest))
        if raw is None:
            return None
        stored = orjson.loads(raw)
        self._remember(account_id, digest, _Cached(stored["entry"], float(stored["valid_until"])))
        return self.get_local(account_id, digest)

    def get_local(self, account_id: str, digest: str) -> dict[str, Any] | None:
        cached = self._entries.get((account_id, digest))
        if cached is None or cached.valid_until - REUSE_MARGIN <= self._clock():
            return None
        return cached.entry

    async def put(self, account_id: str, digest: str, entry: dict[str, Any], seconds: float) -> None:
        cached = _Cached(entry, self._clock() + seconds)
        self._remember(account_id, digest, cached)
        if self._store is not None and seconds > REUSE_MARGIN:
            value = orjson.dumps({"entry": entry, "valid_until": cached.valid_until})
            await self._store.set(_store_key(account_id, digest), value, ttl=seconds - REUSE_MARGIN)

    def _remember(self, account_id: str, digest: str, cached: _Cached) -> None:
        self._entries[(account_id, digest)] = cached
        self._entries.move_to_end((account_id, digest))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _store_key(account_id: str, digest: str) -> str:
    return f"upload:{account_id}:{digest}"


def safe_filename(name: str, fallback: str) -> str:
    """An object-key-safe name: ASCII letters, digits, `.`, `-`, `_`; at most 100 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[-100:]
    return cleaned or fallback


def url_seconds(file_url: str) -> float:
    """How long the presigned `file_url` is valid (its `x-oss-expires`), 300 s when it does not say."""
    query = parse_qs(urlsplit(file_url).query)
    raw = (query.get("x-oss-expires") or query.get("Expires") or [""])[0]
    try:
        return float(raw)
    except ValueError:
        return DEFAULT_URL_SECONDS


def files_entry(
    kind: MediaKind, sts: dict[str, Any], *, filename: str, size: int, media_type: str, now_ms: int
) -> dict[str, Any]:
    """The completion message's `files[]` item for an uploaded file (the web app's shape)."""
    spec = KINDS[kind]
    file_id = str(sts["file_id"])
    entry: dict[str, Any] = {
        "type": spec.type,
        "file": {
            "created_at": now_ms,
            "data": {},
            "filename": filename,
            "hash": None,
            "id": file_id,
            "meta": {"name": filename, "size": size, "content_type": media_type},
            "update_at": now_ms,
        },
        "id": file_id,
        "url": sts["file_url"],
        "name": filename,
        "collection_name": "",
        "progress": 0,
        "status": "uploaded",
        "greenNet": "success",
        "size": size,
        "error": "",
        "itemId": str(uuid.uuid4()),
        "file_type": media_type,
        "showType": spec.show_type,
        "file_class": spec.file_class,
        "uploadTaskId": str(uuid.uuid4()),
    }
    if kind == "document":
        entry["file"]["meta"]["parse_meta"] = {"parse_status": "success"}
    return entry


class WebUploader:
    def __init__(
        self,
        call_json: CallJson,
        clients: ClientRegistry,
        *,
        cache: UploadCache | None = None,
        parse_timeout: float = PARSE_TIMEOUT,
    ) -> None:
        self._call_json = call_json
        self._clients = clients
        self.cache = cache or UploadCache()
        self._parse_timeout = parse_timeout

    async def upload_part(
        self, account: Account, data: bytes, *, media_type: str, filename: str, kind: MediaKind
    ) -> dict[str, Any]:
        """Upload `data` to `account` (or reuse its earlier upload of the same bytes); the `files[]` entry."""
        digest = hashlib.sha256(data).hexdigest()
        cached = await self.cache.get(account.id, digest)
        if cached is not None and cached["type"] == KINDS[kind].type:
            return cached
        name = safe_filename(filename, f"{kind}.bin")
        answer = await self._call_json(
            account,
            "POST",
            STS_PATH,
            {"filename": name, "filesize": len(data), "filetype": KINDS[kind].filetype},
        )
        sts = answer.get("data") if isinstance(answer, dict) else None
        needed = ("access_key_id", "access_key_secret", "security_token", "file_url", "file_path", "file_id")
        if not isinstance(sts, dict) or any(not sts.get(k) for k in needed):
            raise UpstreamError("qwen upstream answered getstsToken without upload credentials")
        await self._put(sts, data, media_type)
        if kind == "document":
            await self._parse(account, str(sts["file_id"]))
        entry = files_entry(
            kind, sts, filename=name, size=len(data), media_type=media_type, now_ms=int(time.time() * 1000)
        )
        await self.cache.put(account.id, digest, entry, url_seconds(str(sts["file_url"])))
        return entry

    async def _put(self, sts: dict[str, Any], data: bytes, media_type: str) -> None:
        target = oss_sign.UploadTarget.from_sts(sts)
        client = self._clients.get(target.url)
        reply = await client.fetch("PUT", target.url, headers=target.headers("V4", media_type), content=data)
        if oss_sign.refused_signature(reply.status, reply.body):
            reply = await client.fetch("PUT", target.url, headers=target.headers("V1", media_type), content=data)
        if reply.status >= 400:
            code = oss_sign.error_code(reply.body)
            detail = f": {code}" if code else ""
            raise UpstreamError(
                f"the upload to the account's file store failed (HTTP {reply.status}){detail}"
            )

    async def _parse(self, account: Account, file_id: str) -> None:
        """Ask the upstream to parse a document and wait until it has."""
        await self._call_json(account, "POST", PARSE_PATH, {"file_id": file_id})
        delay = 0.2
        try:
            async with asyncio.timeout(self._parse_timeout):
                while True:
                    answer = await self._call_json(
                        account, "POST", PARSE_STATUS_PATH, {"file_id_list": [file_id]}
                    )
                    rows = answer.get("data") if isinstance(answer, dict) else None
                    status = (
                        rows[0].get("status")
                        if isinstance(rows, list) and rows and isinstance(rows[0], dict)
                        else None
                    )
                    if status == "success":
                        return
                    if status not in ("running", "pending", None):
                        raise UpstreamBadRequest(f"qwen upstream could not read the document ({status})")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
        except TimeoutError:
            raise UpstreamTimeout(
                f"qwen upstream did not finish reading the document within {self._parse_timeout:g}s"
            ) from None
