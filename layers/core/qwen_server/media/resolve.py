"""A `MediaPart` made concrete: its bytes and the media type sniffed from them, written back into the part.

Sources: inline bytes (already decoded by the API mapping), a data: URL, an http(s) URL (read only through
`fetch`), or a `file_id`, which the caller's file source answers (the Files API, handed down by whoever
composed the runtime). With no source, or one that does not know the id, the request is a 400 naming the part.

The kind the client declared is checked against the bytes: an `image_url` that holds a PDF is refused; a
generic `file` / `document` part whose bytes are an image, audio or video becomes that kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaPart, Message
from qwen_server.media import datauri, limits, sniff
from qwen_server.media.fetch import FetchPolicy, fetch


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What a file source answers for an id: the bytes and what it knows about them."""

    data: bytes
    media_type: str | None = None
    filename: str | None = None


FileSource = Callable[[str, str], Awaitable[StoredFile | None]]
"""(file_id, tenant) -> the file, or None when this source does not hold it for that tenant."""

async def _from_file(part: MediaPart, tenant: str, files: FileSource | None) -> StoredFile:
    assert part.file_id is not None
    found = await files(part.file_id, tenant) if files is not None else None
    if found is not None:
        return found
    raise InvalidRequest(
        f"file {part.file_id!r} is not known to this gateway: send the content inline (base64 or a data: "
        "URL) or by URL",
        param=part.param,
        code="file_not_found",
    )


async def resolve_part(
    part: MediaPart, tenant: str, policy: FetchPolicy | None = None, files: FileSource | None = None
) -> None:
    """Fill `part.data` and `part.media_type` (sniffed), check the size and the kind; idempotent."""
    if part.data is None:
        if part.file_id is not None:
            stored = await _from_file(part, tenant, files)
            part.data = stored.data
            part.media_type = part.media_type or stored.media_type
            part.filename = part.filename or stored.filename
        elif part.url is not None and datauri.is_data_url(part.url):
            try:
                part.data, declared = datauri.parse_data_url(part.url)
            except ValueError as exc:
                raise InvalidRequest(
                    f"the {part.kind}'s data: URL is malformed: {exc}", param=part.param
                ) from None
            part.media_type = part.media_type or declared
        elif part.url is not None:
            fetched = await fetch(part.url, part.kind, part.param, policy)
            part.data = fetched.data
            part.media_type = fetched.declared_type
        else:
            raise InvalidRequest(f"the {part.kind} has no content", param=part.param)
    limits.check_size(part.kind, len(part.data), part.param)
    if not part.data:
        raise InvalidRequest(f"the {part.kind} is empty", param=part.param)
    _settle_type(part)


def _settle_type(part: MediaPart) -> None:
    assert part.data is not None
    found = sniff.media_type_of(part.data, part.media_type)
    if found is None:
        if part.kind != "document":
            raise InvalidRequest(
                f"the {part.kind}'s bytes are not a {part.kind} format this gateway recognises",
                param=part.param,
                code="unsupported_media_type",
            )
        found = (part.media_type or "application/octet-stream").split(";")[0].strip().lower()
    actual = sniff.kind_of(found)
    if part.kind == "document" and actual != "document":
        part.kind = actual
        limits.check_size(part.kind, len(part.data), part.param)
    elif actual != part.kind:
        raise InvalidRequest(
            f"the part is declared as {part.kind} but its bytes are {found}",
            param=part.param,
            code="unsupported_media_type",
        )
    part.media_type = found
    if not part.filename:
        part.filename = f"{part.kind}.{sniff.extension(found)}"


def media_parts(messages: list[Message]) -> list[MediaPart]:
    """Every media part of a conversation, in order."""
    return [p for m in messages for p in m.parts if isinstance(p, MediaPart)]
