"""/v1/files on both APIs (told apart by `anthropic-version` / `anthropic-beta`): upload, list, metadata,
content, delete. Uploads stream into the blob store; only metadata goes to the state store."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from qwen_server.app.auth import tenant_for
from qwen_server.app.flavour import in_callers_shape, speaks_anthropic
from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import runtime_of
from qwen_server.core.cleanup import complete
from qwen_server.core.errors import InvalidRequest, PayloadTooLarge
from qwen_server.core.numbers import whole_number
from qwen_server.files import multipart, records
from qwen_server.files.multipart import Upload, stream_upload
from qwen_server.files.shapes import anthropic_file, int_param, openai_file, page_after

PURPOSES = frozenset({"batch", "user_data", "vision", "assistants", "fine-tune", "evals"})


@in_callers_shape
async def upload_file(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    limit = runtime.settings.files_max_bytes
    max_body = limit + multipart.OVERHEAD  # the file, and at most this much form around it
    declared = whole_number(request.headers.get("content-length"))
    if declared is not None and declared > max_body:
        raise PayloadTooLarge(
            f"The upload is {declared} bytes; files are limited to {limit} bytes (FILES_MAX_BYTES)",
            code="file_too_large",
        )
    anthropic = speaks_anthropic(request)
    api: records.Api = "anthropic" if anthropic else "openai"
    # each field is checked as it arrives, so a bad one stops the upload before its bytes are stored
    upload = Upload(check=None if anthropic else _check_field)
    files = await runtime.files()
    record = await files.upload(
        stream_upload(request, upload, max_body=max_body),
        tenant=tenant,
        api=api,
        limit=limit,
        purpose="",
        filename=None,
        media_type=None,
        save=False,
    )
    try:  # what only the whole form can tell; on any failure (or cancellation) the stored bytes go
        if not upload.file_seen:
            raise InvalidRequest("Missing required parameter: 'file'.", param="file")
        if not anthropic:
            record.purpose = _purpose(upload.fields.get("purpose"))
            record.expires_at = _expires_at(upload.fields, record.created_at)
        else:
            record.purpose = "user_data"
    except BaseException:
        await complete(files.discard(record))
        raise
    record.filename = upload.filename or "upload"
    if upload.media_type and upload.media_type != "application/octet-stream":
        record.media_type = upload.media_type
    elif "." in record.filename:
        import mimetypes

        record.media_type = mimetypes.guess_type(record.filename)[0] or record.media_type
    await files.save(record)
    request.state.log.update(file_bytes=record.size)
    return JSONBytes(anthropic_file(record) if anthropic else openai_file(record))


def _check_field(name: str, value: str) -> None:
    """An OpenAI upload's fields, each on its own (`_expires_at` checks the pair)."""
    if name == "purpose":
        _purpose(value)
    elif name == "expires_after[anchor]":
        _anchor(value)
    elif name == "expires_after[seconds]":
        _seconds(value)


def _purpose(value: str | None) -> str:
    if not value:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if value not in PURPOSES:
        raise InvalidRequest(
            f"Invalid value for 'purpose': {value[:100]!r}; expected one of {', '.join(sorted(PURPOSES))}.",
            param="purpose",
        )
    return value


def _anchor(value: str | None) -> None:
    if value != "created_at":
        raise InvalidRequest(
            "Invalid value for 'expires_after.anchor': expected 'created_at'.", param="expires_after.anchor"
        )


def _seconds(value: str | None) -> int:
    seconds = whole_number(value)
    if seconds is None or not 3600 <= seconds <= 2592000:
        raise InvalidRequest(
            "Invalid value for 'expires_after.seconds': expected an integer from 3600 to 2592000.",
            param="expires_after.seconds",
        )
    return seconds


def _expires_at(fields: dict[str, str], created_at: int) -> int | None:
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    _anchor(anchor)
    return created_at + _seconds(seconds)


@in_callers_shape
async def list_files(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    query = request.query_params
    if speaks_anthropic(request):
        found = await records.listing(runtime.store, tenant, "anthropic")
        limit = int_param(query.get("limit"), "limit", 20, 1, 1000)
        after = query.get("after_id") or query.get("page")  # newer SDKs page with an opaque `page` cursor
        page = page_after(found, [r.id for r in found], after, query.get("before_id"), limit)
        data = [anthropic_file(r) for r in page]
        more = _has_more(found, page, before=query.get("before_id") is not None)
        return JSONBytes(
            {
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": more,
                "next_page": data[-1]["id"] if data and more else None,
            }
        )
    found = await records.listing(runtime.store, tenant, "openai")
    purpose = query.get("purpose")
    if purpose:
        found = [r for r in found if r.purpose == purpose]
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Invalid value for 'order': expected 'asc' or 'desc'.", param="order")
    if order == "asc":
        found.reverse()
    limit = int_param(query.get("limit"), "limit", 10000, 1, 10000)
    page = page_after(found, [r.id for r in found], query.get("after"), None, limit)
    data = [openai_file(r) for r in page]
    return JSONBytes(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": _has_more(found, page, before=False),
        }
    )


def _has_more(found: list[records.FileRecord], page: list[records.FileRecord], *, before: bool) -> bool:
    if not page:
        return False
    edge = page[0] if before else page[-1]
    position = found.index(edge)
    return position > 0 if before else position < len(found) - 1


@in_callers_shape
async def get_file(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    record = await (await runtime.files()).get(tenant, request.path_params["file_id"])
    return JSONBytes(anthropic_file(record) if speaks_anthropic(request) else openai_file(record))


@in_callers_shape
async def file_content(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    record = await (await runtime.files()).get(tenant, request.path_params["file_id"])
    if speaks_anthropic(request) and not record.downloadable:
        raise InvalidRequest(
            f"File {record.id} is not downloadable: only files the gateway produced can be downloaded",
            code="file_not_downloadable",
        )
    body = await (await runtime.files()).open_content(record)
    headers = {"content-length": str(record.size), "content-disposition": _attachment(record.filename)}
    return StreamingResponse(body, media_type=record.media_type, headers=headers)


@in_callers_shape
async def delete_file(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    record = await (await runtime.files()).delete(tenant, request.path_params["file_id"])
    if speaks_anthropic(request):
        return JSONBytes({"id": record.id, "type": "file_deleted"})
    return JSONBytes({"id": record.id, "object": "file", "deleted": True})


def _attachment(filename: str) -> str:
    """A Content-Disposition naming the file: ASCII fallback plus RFC 5987's UTF-8 form (never a raw CR/LF)."""
    from urllib.parse import quote

    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
