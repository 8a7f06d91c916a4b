"""The emulator's file side: STS credentials per upload, the bucket's objects, document parsing, and the
check of a completion's `files[]` (which files an answer may use, and what the answer says it saw).

One `FileStore` per app (single event loop, no locks). Counters per account (`sts`, `puts`, `puts_refused`,
`parses`, `status_polls`) are served by `GET /_emulator/files`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

BUCKET = "qwen-webui-emulated"
REGION = "oss-ap-southeast-1"
URL_SECONDS = 300
FILETYPES = frozenset({"image", "video", "audio", "document", "file"})
# kind of a content type -> (type, showType, file_class) the completion's files[] entry must carry
ENTRY_SHAPE: dict[str, tuple[str, str, str]] = {
    "image": ("image", "image", "vision"),
    "video": ("video", "video", "video"),
    "audio": ("audio", "audio", "audio"),
    "document": ("file", "file", "document"),
}
MAX_OBJECTS = 10_000


def kind_of(content_type: str) -> str:
    for kind in ("image", "video", "audio"):
        if content_type.startswith(kind + "/"):
            return kind
    return "document"


@dataclass(slots=True)
class StoredObject:
    file_id: str
    account: int
    key: str
    filename: str
    filesize: int
    filetype: str
    access_key_id: str
    access_key_secret: str
    security_token: str
    file_url: str
    expires_at: float
    data: bytes | None = None
    content_type: str = ""
    parse: str = "none"  # none -> running -> success
    polls: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data or b"").hexdigest()


@dataclass(slots=True)
class FileStore:
    accounts: int
    clock: Callable[[], float] = time.time
    objects: dict[str, StoredObject] = field(default_factory=dict)
    by_key: dict[str, StoredObject] = field(default_factory=dict)
    by_access_key: dict[str, StoredObject] = field(default_factory=dict)
    counts: list[Counter[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = [Counter() for _ in range(self.accounts)]

    def issue(self, account: int, filename: str, filesize: int, filetype: str, base_url: str) -> StoredObject:
        """Credentials and a place for one upload."""
        if len(self.objects) >= MAX_OBJECTS:
            for old in list(self.objects.values())[: MAX_OBJECTS // 10]:
                self._forget(old)
        file_id = str(uuid.uuid4())
        key = f"user{account}/{file_id}_{filename}"
        now = self.clock()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        presign = hashlib.sha256(f"{key}:{stamp}".encode()).hexdigest()
        file_url = (
            f"{base_url}/oss/{BUCKET}/{key}?x-oss-date={stamp}&x-oss-expires={URL_SECONDS}"
            f"&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-signature={presign}"
        )
        stored = StoredObject(
            file_id=file_id,
            account=account,
            key=key,
            filename=filename,
            filesize=filesize,
            filetype=filetype,
            access_key_id="STS." + secrets.token_hex(12),
            access_key_secret=secrets.token_hex(20),
            security_token=secrets.token_urlsafe(48),
            file_url=file_url,
            expires_at=now + URL_SECONDS,
        )
        self.objects[file_id] = stored
        self.by_key[key] = stored
        self.by_access_key[stored.access_key_id] = stored
        self.counts[account]["sts"] += 1
        return stored

    def _forget(self, stored: StoredObject) -> None:
        self.objects.pop(stored.file_id, None)
        self.by_key.pop(stored.key, None)
        self.by_access_key.pop(stored.access_key_id, None)

    def owned(self, account: int, file_id: str) -> StoredObject | None:
        stored = self.objects.get(file_id)
        return stored if stored is not None and stored.account == account else None

    def check_files(self, account: int, entries: Sequence[Any]) -> tuple[list[StoredObject], str | None]:
        """The files a completion's `files[]` names, or the reason the web would refuse them."""
        seen: list[StoredObject] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                return [], f"files[{i}] is not an object"
            stored = self.owned(account, str(entry.get("id") or ""))
            if stored is None or stored.data is None:
                return [], f"files[{i}]: no uploaded file {entry.get('id')!r} on this account"
            if entry.get("url") != stored.file_url:
                return [], f"files[{i}]: the url is not the one issued for this file"
            if stored.expires_at <= self.clock():
                return [], f"files[{i}]: the file's url has expired"
            kind = kind_of(stored.content_type)
            shape = (entry.get("type"), entry.get("showType"), entry.get("file_class"))
            if shape != ENTRY_SHAPE[kind]:
                return (
                    [],
                    f"files[{i}]: a {kind} needs type/showType/file_class {ENTRY_SHAPE[kind]}, not {shape}",
                )
            if kind == "document" and stored.parse != "success":
                return [], f"files[{i}]: the document was not parsed"
            seen.append(stored)
        return seen, None

    def snapshot(self, emails: Sequence[str]) -> dict[str, Any]:
        return {
            "accounts": {email: dict(self.counts[i]) for i, email in enumerate(emails)},
            "files": [
                {
                    "id": s.file_id,
                    "account": emails[s.account],
                    "filename": s.filename,
                    "filetype": s.filetype,
                    "content_type": s.content_type,
                    "size": len(s.data) if s.data is not None else None,
                    "sha256": s.sha256 if s.data is not None else None,
                    "parse": s.parse,
                }
                for s in self.objects.values()
            ],
        }


def seen_note(files: Sequence[StoredObject]) -> str:
    """What the echo adds to its answer: one line per file it was given, with the bytes' digest."""
    return "".join(
        f"\n[file {s.filename} {s.content_type} {len(s.data or b'')} bytes sha256={s.sha256}]" for s in files
    )


def conversation_of(content: str, files: Sequence[StoredObject]) -> str:
    """What the model reads: the last attached text document laid out as a conversation (the gateway sends
    long conversations that way, the message then only pointing at it), else the message itself."""
    from qwen_server.emulator.conversation import headers

    for stored in reversed(files):
        if stored.content_type.startswith("text/") and stored.data:
            text = stored.data.decode("utf-8", "replace")
            if headers(text):
                return text
    return content
