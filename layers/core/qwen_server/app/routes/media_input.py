"""Reading the media routes' bodies: JSON, or multipart forms as the openai SDK sends them (files under
`image`, `image[]`, `mask`, `input_reference`), size-capped like every body (counted as it streams, so a
chunked body is cut at the limit too), with the form's text fields bounded in number and size."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from qwen_server.app.http import parse_json_object, read_body, refuse_browser_body
from qwen_server.core.errors import InvalidRequest
from qwen_server.files.multipart import FORM_FIELD_BYTES, MAX_FORM_FIELDS
from qwen_server.generation.images import sniff
from qwen_server.providers.media import InputImage

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
MAX_FORM_FILES = 16


async def read_fields(request: Request, max_bytes: int) -> tuple[dict[str, Any], dict[str, list[InputImage]]]:
    """(fields, files by field name without `[]`) of a JSON or multipart body."""
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(
                max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=FORM_FIELD_BYTES
            )
        except (MultiPartException, HTTPException) as exc:  # Starlette turns parse errors into a 400
            detail = getattr(exc, "detail", None) or getattr(exc, "message", "")
            raise InvalidRequest(f"the multipart body could not be read: {detail}") from None
        fields: dict[str, Any] = {}
        files: dict[str, list[InputImage]] = {}
        for name, value in form.multi_items():
            key = name.removesuffix("[]")
            if isinstance(value, UploadFile):
                files.setdefault(key, []).append(await _image(value, key))
            else:
                fields[key] = value
        return fields, files
    refuse_browser_body(request)
    return parse_json_object(body), {}


async def _image(upload: UploadFile, field: str) -> InputImage:
    data = await upload.read()
    if not data:
        raise InvalidRequest(f"the file in `{field}` is empty", param=field)
    media_type, ext = sniff(data)
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if not (
        data.startswith((b"\x89PNG", b"\xff\xd8\xff")) or (data.startswith(b"RIFF") and b"WEBP" in data[:16])
    ):
        raise InvalidRequest(
            f"the file in `{field}` is not a PNG, JPEG or WebP image"
            + (f" (sent as {declared})" if declared else ""),
            param=field,
        )
    return InputImage(data, media_type, upload.filename or f"image.{ext}")
