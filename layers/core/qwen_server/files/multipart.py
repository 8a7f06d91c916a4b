"""A multipart/form-data upload streamed straight into the blob store.

`python-multipart`'s push parser is fed the request body chunk by chunk; the bytes of the `file` part are
handed on as they are parsed, so memory holds one network chunk at a time whatever the file's size, and the
blob store's size cap stops an oversize upload early. Small text fields (`purpose`, ...) are collected.

Everything else the form may hold is bounded too, so memory never grows with what a client sends: at most
`MAX_PARTS` parts, `FIELD_LIMIT` bytes per text field and `FIELDS_LIMIT` in all, `HEADER_LIMIT` bytes of
headers per part (400s), and the whole body at most `max_body` bytes as it streams, whether or not it
declared a Content-Length (a 413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from qwen_server.core.errors import InvalidRequest, PayloadTooLarge

FIELD_LIMIT = 64 * 1024  # a form field other than the file (purpose, expires_after[...]) is never this big
FIELDS_LIMIT = 128 * 1024  # every text field together
MAX_PARTS = 16  # the file and its fields: OpenAI's upload form has four
HEADER_LIMIT = 16 * 1024  # one part's headers (Content-Disposition, Content-Type)
OVERHEAD = FIELDS_LIMIT + MAX_PARTS * (HEADER_LIMIT + 256)  # a form's bytes besides the file, at most

# The buffered forms of the media routes (transcriptions, image edits, videos), parsed by Starlette once the
# body is read within its size limit: their text fields are bounded alike.
MAX_FORM_FIELDS = 32
FORM_FIELD_BYTES = 128 * 1024  # one text field: a 32,000-character prompt in any script fits


@dataclass
class Upload:
    """What the form held besides the file's bytes, filled in while they stream. `check` sees each field as
    soon as it ends and may refuse it (raise): before or after the file part, the upload stops and its bytes
    are never stored."""

    fields: dict[str, str] = field(default_factory=dict)
    field_bytes: int = 0
    parts: int = 0
    file_seen: bool = False
    filename: str | None = None
    media_type: str | None = None
    check: Callable[[str, str], None] | None = None


@dataclass
class _Part:
    """The part being parsed: its headers, and its value unless it is the file."""

    name: str | None = None
    header: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_bytes: int = 0
    value: bytearray = field(default_factory=bytearray)
    in_file: bool = False

    def reset(self) -> None:
        self.name, self.in_file, self.header_bytes = None, False, 0
        self.header, self.headers, self.value = bytearray(), {}, bytearray()

    def count_header(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > HEADER_LIMIT:
            raise InvalidRequest(
                f"A part of the form has more than {HEADER_LIMIT} bytes of headers", code="invalid_upload"
            )


def _disposition(value: bytes) -> tuple[str | None, str | None]:
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(value)
    name = options.get(b"name")
    filename = options.get(b"filename")
    return (
        name.decode("utf-8", "replace") if name is not None else None,
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


def stream_upload(
    request: Request, upload: Upload, *, max_body: int, file_field: str = "file"
) -> AsyncIterator[bytes]:
    """The bytes of the form's `file_field` part, parsed from the request as it arrives; `upload` gets the
    other fields. A body that is not multipart/form-data is a 400; one past `max_body` bytes a 413."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Upload the file as multipart/form-data with a `file` part",
            param=file_field,
            code="invalid_upload",
        )

    pending: list[bytes] = []
    part = _Part()

    def on_part_begin() -> None:
        part.reset()
        upload.parts += 1
        if upload.parts > MAX_PARTS:
            raise InvalidRequest(f"The form has more than {MAX_PARTS} parts", code="invalid_upload")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.count_header(end - start)
        part.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.count_header(end - start)
        key = bytes(part.header).lower()
        part.headers[key] = part.headers.get(key, b"") + data[start:end]

    def on_header_end() -> None:
        part.header.clear()

    def on_headers_finished() -> None:
        name, filename = _disposition(part.headers.get(b"content-disposition", b""))
        part.name = name
        if name == file_field and filename is not None and not upload.file_seen:
            upload.file_seen = True
            upload.filename = filename
            content_type = part.headers.get(b"content-type")
            upload.media_type = content_type.decode("latin-1").strip() if content_type else None
            part.in_file = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.in_file:
            pending.append(data[start:end])
            return
        part.value += data[start:end]
        upload.field_bytes += end - start
        if len(part.value) > FIELD_LIMIT:
            raise InvalidRequest(f"The form field {part.name!r} is too long", code="invalid_upload")
        if upload.field_bytes > FIELDS_LIMIT:
            raise InvalidRequest(
                f"The form's fields besides the file hold more than {FIELDS_LIMIT} bytes", code="invalid_upload"
            )

    def on_part_end() -> None:
        if not part.in_file and part.name is not None:
            value = part.value.decode("utf-8", "replace")
            if upload.check is not None:
                upload.check(part.name, value)
            upload.fields[part.name] = value
        part.in_file = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )

    async def chunks() -> AsyncIterator[bytes]:
        from python_multipart.exceptions import MultipartParseError

        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:  # counted as it streams: a chunked body declares no length
                raise PayloadTooLarge(
                    f"The upload is larger than the limit of {max_body} bytes for a form (FILES_MAX_BYTES)",
                    code="file_too_large",
                )
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidRequest(
                    f"The multipart body is malformed: {exc}", code="invalid_upload"
                ) from None
            if pending:
                data = b"".join(pending)
                pending.clear()
                yield data
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidRequest(f"The multipart body is malformed: {exc}", code="invalid_upload") from None

    return chunks()
