"""A file record in each API's own shape, and listing pages in each API's paging style."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.numbers import whole_number
from qwen_server.files.records import FileRecord


def iso(ts: float) -> str:
    """Anthropic's RFC 3339 timestamps (`2025-04-14T12:00:00Z`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def openai_file(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.size,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "status_details": None,
    }


def anthropic_file(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "type": "file",
        "filename": record.filename,
        "mime_type": record.media_type,
        "size_bytes": record.size,
        "created_at": iso(record.created_precise or record.created_at),
        "downloadable": record.downloadable,
    }


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    value = whole_number(raw, signed=True)
    if value is None or not low <= value <= high:
        raise InvalidRequest(
            f"Invalid value for '{name}': expected an integer from {low} to {high}.", param=name
        )
    return value


def page_after(
    items: list[Any], ids: list[str], after: str | None, before: str | None, limit: int
) -> list[Any]:
    """Items after `after` (or before `before`) in `items`' order, at most `limit`; an unknown cursor id is an
    empty page rather than an error, as the listing may have changed under it."""
    if after is not None:
        start = ids.index(after) + 1 if after in ids else len(ids)
        return items[start : start + limit]
    if before is not None:
        end = ids.index(before) if before in ids else 0
        return items[max(0, end - limit) : end]
    return items[:limit]
