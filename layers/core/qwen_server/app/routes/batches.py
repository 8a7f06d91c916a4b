"""Batches: OpenAI's `/v1/batches` and Anthropic's `/v1/messages/batches`, plus the scheduled tick.

Creating validates and stores the lines and wakes a worker; the work itself happens in `batches.worker`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from qwen_server.app.auth import tenant_for
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import Runtime, runtime_of
from qwen_server.batches import records
from qwen_server.batches.records import BatchRecord
from qwen_server.batches.shapes import anthropic_batch, live_counts, openai_batch
from qwen_server.core.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from qwen_server.core.origin import public_base
from qwen_server.files.shapes import int_param, page_after


def _not_found(batch_id: str) -> NotFound:
    return NotFound(f"No batch found with id '{batch_id}'.", param="batch_id", code="batch_not_found")


async def _caller(request: Request) -> tuple[Runtime, str]:
    runtime = await runtime_of(request)
    return runtime, tenant_for(request, runtime.settings.gateway_keys())


async def _batch(runtime: Runtime, tenant: str, batch_id: str, api: records.Api) -> BatchRecord:
    record = await records.load(runtime.store, tenant, batch_id)
    if record is None or record.api != api:
        raise _not_found(batch_id)
    return record


async def _counts(runtime: Runtime, record: BatchRecord) -> dict[str, int]:
    if record.ended and record.counts:
        return record.counts
    raw = await runtime.store.get_many(
        [f"batch-count:{record.id}:succeeded", f"batch-count:{record.id}:errored"]
    )
    counters = {k: int(float(v)) for k, v in zip(("succeeded", "errored"), raw, strict=True) if v}
    return live_counts(record, counters)


def _base_url(runtime: Runtime, request: Request) -> str:
    return public_base(request.scope, str(request.base_url), runtime.settings.public_base_url)


async def _start(runtime: Runtime) -> None:
    """Work on batches starts now: a worker here or on Lambda is woken, else the deployment ticks itself."""
    from qwen_server.app.self_tick import nudge
    from qwen_server.batches.kick import kick

    if not await kick():
        await nudge(runtime, "batches", gated=False)


async def _nudge_unfinished(runtime: Runtime, record: BatchRecord) -> None:
    """A status read of an unfinished batch restarts a self-tick chain that died (gated: cheap when alive)."""
    if not record.ended:
        from qwen_server.app.self_tick import nudge

        await nudge(runtime, "batches")


# ---- OpenAI --------------------------------------------------------------------------------------------
async def create_batch(request: Request) -> Response:
    from qwen_server.batches.create import create_openai

    runtime, tenant = await _caller(request)
    body = await read_json(request, runtime.settings.max_request_bytes)
    input_file_id = body.get("input_file_id")
    if not isinstance(input_file_id, str) or not input_file_id:
        raise InvalidRequest("Missing required parameter: 'input_file_id'.", param="input_file_id")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str):
        raise InvalidRequest("Missing required parameter: 'endpoint'.", param="endpoint")
    if body.get("completion_window") != "24h":
        raise InvalidRequest(
            "Invalid value for 'completion_window': only '24h' is supported.", param="completion_window"
        )
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise InvalidRequest(
            "Invalid value for 'metadata': at most 16 string keys and string values.", param="metadata"
        )
    record = await create_openai(
        await runtime.files(),
        tenant,
        input_file_id=input_file_id,
        endpoint=endpoint,
        metadata=metadata,
        chunk_lines=runtime.settings.batch_chunk_lines,
        max_line_bytes=runtime.settings.max_request_bytes,
    )
    if not record.ended:  # in progress, or cancelled while its lines were read: a worker takes it
        await _start(runtime)
    return JSONBytes(openai_batch(record, await _counts(runtime, record)))


async def get_batch(request: Request) -> Response:
    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "openai")
    await _nudge_unfinished(runtime, record)
    return JSONBytes(openai_batch(record, await _counts(runtime, record)))


async def list_batches(request: Request) -> Response:
    runtime, tenant = await _caller(request)
    found = await records.listing(runtime.store, tenant, "openai")
    limit = int_param(request.query_params.get("limit"), "limit", 20, 1, 100)
    page = page_after(found, [r.id for r in found], request.query_params.get("after"), None, limit)
    data = [openai_batch(r, await _counts(runtime, r)) for r in page]
    more = bool(page) and found.index(page[-1]) < len(found) - 1
    return JSONBytes(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


def _start_cancel(record: BatchRecord) -> bool:
    if record.status not in ("validating", "in_progress"):
        return False
    record.status = "cancelling"
    record.cancelling_at = records.now()
    return True


async def cancel_batch(request: Request) -> Response:

    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "openai")
    if record.ended or record.status == "finalizing":
        error = InvalidRequest(
            f"Cannot cancel a batch with status '{record.status}'.", code="batch_not_cancellable"
        )
        error.status = 409
        raise error
    updated = await records.update(runtime.store, tenant, record.id, _start_cancel)
    assert updated is not None
    await _start(runtime)
    return JSONBytes(openai_batch(updated, await _counts(runtime, updated)))


# ---- Anthropic -----------------------------------------------------------------------------------------
async def create_message_batch(request: Request) -> Response:
    from qwen_server.batches.create import check_anthropic_requests, create_anthropic

    runtime, tenant = await _caller(request)
    body = await read_json(request, runtime.settings.max_request_bytes)  # the requests come inline
    requests = check_anthropic_requests(body.get("requests"))
    record = await create_anthropic(await runtime.files(), tenant, requests, runtime.settings.batch_chunk_lines)
    await _start(runtime)
    return JSONBytes(anthropic_batch(record, await _counts(runtime, record), _base_url(runtime, request)))


async def get_message_batch(request: Request) -> Response:
    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "anthropic")
    await _nudge_unfinished(runtime, record)
    return JSONBytes(anthropic_batch(record, await _counts(runtime, record), _base_url(runtime, request)))


async def list_message_batches(request: Request) -> Response:
    runtime, tenant = await _caller(request)
    found = await records.listing(runtime.store, tenant, "anthropic")
    query = request.query_params
    limit = int_param(query.get("limit"), "limit", 20, 1, 1000)
    before = query.get("before_id")
    page = page_after(found, [r.id for r in found], query.get("after_id"), before, limit)
    base = _base_url(runtime, request)
    data = [anthropic_batch(r, await _counts(runtime, r), base) for r in page]
    if not page:
        more = False
    elif before is not None:
        more = found.index(page[0]) > 0
    else:
        more = found.index(page[-1]) < len(found) - 1
    return JSONBytes(
        {
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


async def cancel_message_batch(request: Request) -> Response:

    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "anthropic")
    updated = await records.update(runtime.store, tenant, record.id, _start_cancel)
    assert updated is not None
    if not updated.ended:
        await _start(runtime)
    return JSONBytes(anthropic_batch(updated, await _counts(runtime, updated), _base_url(runtime, request)))


async def delete_message_batch(request: Request) -> Response:
    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "anthropic")
    if not record.ended:
        raise InvalidRequest(
            f"Batch {record.id} is still processing: cancel it and wait for it to end before deleting it."
        )
    await runtime.store.delete(records.record_key(tenant, record.id))
    if record.results_key:
        await (await runtime.blobs()).store.delete(record.results_key)
    return JSONBytes({"id": record.id, "type": "message_batch_deleted"})


async def message_batch_results(request: Request) -> Response:
    from qwen_server.blob import BlobNotFound
    from qwen_server.blob.base import open_found
    runtime, tenant = await _caller(request)
    record = await _batch(runtime, tenant, request.path_params["batch_id"], "anthropic")
    if not record.ended or not record.results_key:
        raise InvalidRequest(f"Batch {record.id} has not ended yet: its results are not available.")
    try:
        body = await open_found((await runtime.blobs()).store, record.results_key)
    except BlobNotFound:
        raise _not_found(record.id) from None
    return StreamingResponse(body, media_type="application/x-jsonl")


# ---- the scheduled tick --------------------------------------------------------------------------------
async def batches_tick(request: Request) -> Response:
    """Vercel's cron and the deployment's own calls (`Authorization: Bearer $CRON_SECRET`): one bounded
    pass of the batch worker, answered with its counts; a self-call is answered 202 and works after it."""
    from qwen_server.app.self_tick import cron_authorised, is_self_call
    from qwen_server.app.tick_passes import batches_pass, later

    runtime = await runtime_of(request)
    secret = runtime.settings.cron_secret
    if not secret:
        raise PermissionDenied("the batch tick is disabled: set CRON_SECRET", code="cron_disabled")
    if not cron_authorised(request, secret):
        raise AuthenticationFailed("the batch tick needs `Authorization: Bearer <CRON_SECRET>`")
    if is_self_call(request):
        later(runtime, "batches")
        return JSONBytes({"started": True}, status_code=202)
    return JSONBytes(await batches_pass(runtime))
