"""`file_id` message parts (OpenAI `{"type": "file", "file": {"file_id"}}`, Anthropic `source: {"type":
"file"}`) turned into content the providers take, before the request runs.

The tenant's file is read with `read_file_for_tenant` (another tenant's id is a 404 like an unknown one). An
image becomes an `ImagePart` holding a `data:` URL (vision input on native upstreams), a text file its text;
any other type stays a `MediaPart`, now carrying the bytes, for the media pipeline to handle.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from qwen_server.core.errors import NotFound
from qwen_server.core.model import ChatRequest, ImagePart, MediaPart, Part, TextPart

Reader = Callable[[str, str], Awaitable[tuple[bytes, str, str]]]
TEXT_TYPES = frozenset({"application/json", "application/jsonl", "application/xml", "application/x-ndjson"})


def has_file_parts(request: ChatRequest) -> bool:
    return any(isinstance(p, MediaPart) and p.file_id for m in request.messages for p in m.parts)


async def resolve_file_parts(request: ChatRequest, read: Reader | None = None) -> None:
    """Replace every `file_id` part of `request` in place; a missing file is a 404 naming the part."""
    if not has_file_parts(request):
        return
    if read is None:
        from qwen_server.files.service import read_file_for_tenant

        read = read_file_for_tenant
    reader: Reader = read
    for message in request.messages:
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, MediaPart) and part.file_id:
                try:
                    data, media_type, filename = await reader(request.tenant, part.file_id)
                except NotFound as exc:
                    exc.param = part.param or exc.param
                    raise
                parts.append(_as_content(part, data, media_type, filename))
            else:
                parts.append(part)
        message.parts = parts


def _as_content(part: MediaPart, data: bytes, media_type: str, filename: str) -> Part:
    kind = media_type.split("/", 1)[0]
    if kind == "image":
        encoded = base64.b64encode(data).decode()
        return ImagePart(f"data:{media_type};base64,{encoded}", media_type=media_type)
    if kind == "text" or media_type in TEXT_TYPES:
        return TextPart(data.decode("utf-8", "replace"))
    media_kind = kind if kind in ("audio", "video") else "document"
    return MediaPart(
        media_kind,  # type: ignore[arg-type]
        data=data,
        media_type=media_type,
        filename=part.filename or filename,
        detail=part.detail,
        param=part.param,
    )
