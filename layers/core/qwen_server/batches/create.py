"""Creating a batch: its lines are checked, split into chunk blobs and the batch made visible to workers.

OpenAI's input is a JSONL file (`custom_id`, `method`, `url`, `body` per line); a line that does not parse or
does not fit fails the whole batch with `errors` naming the line, as OpenAI does. Anthropic's requests come in
the create body; a request whose `params` are wrong errors on its own line when it runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from qwen_server.batches import records
from qwen_server.batches.lines import OPENAI_ENDPOINTS
from qwen_server.batches.records import BatchRecord
from qwen_server.blob.base import BlobStore
from qwen_server.core import offload
from qwen_server.core.errors import InvalidRequest
from qwen_server.files.service import Files
from qwen_server.store.base import Store

MAX_LINES = 50_000
OFF_LOOP_LINE = 256 * 1024  # a longer line is parsed and re-serialised in a worker thread (`offload`)
MAX_ANTHROPIC_REQUESTS = 100_000
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class _LineError(Exception):
    def __init__(self, code: str, message: str, line: int, param: str | None = None) -> None:
        super().__init__(message)
        self.entry = {"code": code, "message": message, "param": param, "line": line}


async def _lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[tuple[int, bytes]]:
    """(1-based line number, line) for each non-blank line, read as the blob streams. Each byte is looked at
    once: a line longer than a chunk is gathered in parts and joined when it ends, never re-scanned (a file
    of one 150 MB line costs what 150 MB of short lines do). A line over `max_line` bytes (a request body
    over MAX_REQUEST_BYTES) fails the batch before more of it is held."""
    parts: list[bytes] = []
    held = number = 0
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if held + end - start > max_line:
                raise _too_long(number, max_line)
            line = b"".join([*parts, chunk[start:end]]) if parts else chunk[start:end]
            parts.clear()
            held = 0
            if line.strip():
                yield number, line
            start = end + 1
        if start < len(chunk):
            held += len(chunk) - start
            if held > max_line:
                raise _too_long(number + 1, max_line)
            parts.append(chunk[start:])
    line = b"".join(parts)
    if line.strip():
        yield number + 1, line


def _too_long(number: int, max_line: int) -> _LineError:
    return _LineError(
        "line_too_long",
        f"Line {number} is longer than {max_line} bytes, the largest request body this gateway takes "
        "(MAX_REQUEST_BYTES).",
        number,
    )


def _openai_line(raw: bytes, number: int, endpoint: str, seen: set[str]) -> dict[str, Any]:
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _LineError("invalid_json_line", f"Line {number} is not valid JSON.", number) from None
    if not isinstance(line, dict):
        raise _LineError("invalid_json_line", f"Line {number} is not a JSON object.", number)
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _LineError(
            "missing_required_parameter", f"Line {number} has no custom_id.", number, "custom_id"
        )
    if custom_id in seen:
        raise _LineError(
            "duplicate_custom_id",
            f"The custom_id {custom_id!r} on line {number} is used twice.",
            number,
            "custom_id",
        )
    if line.get("method") != "POST":
        raise _LineError("invalid_method", f"Line {number}: method must be POST.", number, "method")
    if line.get("url") != endpoint:
        raise _LineError(
            "mismatched_endpoint",
            f"Line {number}: url {line.get('url')!r} does not match the batch's endpoint {endpoint}.",
            number,
            "url",
        )
    if not isinstance(line.get("body"), dict):
        raise _LineError("missing_required_parameter", f"Line {number} has no body object.", number, "body")
    seen.add(custom_id)
    return {"custom_id": custom_id, "body": line["body"]}


def _entry(line: dict[str, Any], index: int) -> bytes:
    """A line as a chunk blob holds it: the request and its index in the batch."""
    return orjson.dumps({**line, "i": index})


def _checked_entry(raw: bytes, number: int, endpoint: str, seen: set[str], index: int) -> bytes:
    return _entry(_openai_line(raw, number, endpoint, seen), index)


async def _write_chunks(blob: BlobStore, record: BatchRecord, lines: AsyncIterator[bytes]) -> int:
    """Write the lines (`_entry`s, in order) as chunk blobs of `record.chunk_lines`; the number of lines."""
    buffer: list[bytes] = []
    total = 0
    async for line in lines:
        buffer.append(line)
        total += 1
        if len(buffer) == record.chunk_lines:
            await blob.put_bytes(
                record.chunk_key(total // record.chunk_lines - 1),
                b"\n".join(buffer),
                expires_at=record.retained_until,
            )
            buffer.clear()
    if buffer:
        await blob.put_bytes(
            record.chunk_key(total // record.chunk_lines), b"\n".join(buffer), expires_at=record.retained_until
        )
    return total


async def _remove_chunks(blob: BlobStore, record: BatchRecord, written: int) -> None:
    for chunk in range(-(-written // record.chunk_lines) + 1):
        await blob.delete(record.chunk_key(chunk))


async def create_openai(
    files: Files,
    tenant: str,
    *,
    input_file_id: str,
    endpoint: str,
    metadata: dict[str, str] | None,
    chunk_lines: int,
    max_line_bytes: int,
) -> BatchRecord:
    store = files.store
    if endpoint not in OPENAI_ENDPOINTS:
        raise InvalidRequest(
            f"Invalid value for 'endpoint': {endpoint!r}; this gateway batches {', '.join(OPENAI_ENDPOINTS)}.",
            param="endpoint",
        )
    source = await files.get(tenant, input_file_id)
    if source.purpose != "batch":
        raise InvalidRequest(
            f"File {input_file_id} was not uploaded with purpose 'batch'.", param="input_file_id"
        )
    now = records.now()
    record = BatchRecord(
        id=records.new_batch_id("openai"),
        tenant=tenant,
        api="openai",
        endpoint=endpoint,
        status="validating",
        created_at=now,
        expires_at=now + records.WINDOW_SECONDS,
        chunk_lines=chunk_lines,
        input_file_id=input_file_id,
        metadata=metadata,
    )
    await records.create(store, record)
    blob = await files.blob()
    seen: set[str] = set()
    counted = 0

    async def parsed() -> AsyncIterator[bytes]:
        nonlocal counted
        async for number, raw in _lines(await files.open_content(source), max_line_bytes):
            check = functools.partial(_checked_entry, raw, number, endpoint, seen, counted)
            # a long line takes a long parse: in a thread, so the event loop keeps serving meanwhile
            line = await offload.run(check) if len(raw) > OFF_LOOP_LINE else check()
            counted += 1
            if counted > MAX_LINES:
                raise _LineError("too_many_requests", f"A batch holds at most {MAX_LINES} requests.", number)
            yield line

    try:
        total = await _write_chunks(blob, record, parsed())
        if total == 0:
            raise _LineError("empty_file", "The input file has no requests.", 0)
    except _LineError as exc:
        entry = exc.entry
        await _remove_chunks(blob, record, counted)
        failed = await records.update(store, tenant, record.id, lambda r: _fail(r, entry))
        assert failed is not None
        return failed
    return await _start(store, record, total)


def _fail(record: BatchRecord, entry: dict[str, Any]) -> bool:
    if record.status == "cancelling":  # a cancel that came while the lines were read wins: nothing ran
        record.status = "cancelled"
        record.cancelled_at = records.now()
        return True
    record.status = "failed"
    record.failed_at = records.now()
    record.errors = [entry]
    return True


async def _start(store: Store, record: BatchRecord, total: int) -> BatchRecord:
    """validating -> in_progress, and the batch joins the workers' list. A cancel that came while the lines
    were read (validating -> cancelling) wins: the batch stays cancelling, and the workers end it as
    cancelled, every line with its `canceled` result, as any batch cancelled before its lines ran."""

    def start(r: BatchRecord) -> bool:
        r.total = total
        r.chunks = -(-total // r.chunk_lines)
        if r.status == "validating":
            r.status = "in_progress"
            r.in_progress_at = records.now()
        return True

    started = await records.update(store, record.tenant, record.id, start)
    assert started is not None
    await store.set(records.active_key(record.tenant, record.id), b"1", ttl=records.WINDOW_SECONDS + 3600)
    return started


def check_anthropic_requests(requests: Any) -> list[dict[str, Any]]:
    """The create body's `requests`: a non-empty list of `{custom_id, params}` with unique ids."""
    if not isinstance(requests, list) or not requests:
        raise InvalidRequest("requests: expected a non-empty list of {custom_id, params}", param="requests")
    if len(requests) > MAX_ANTHROPIC_REQUESTS:
        raise InvalidRequest(f"requests: at most {MAX_ANTHROPIC_REQUESTS} per batch", param="requests")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(requests):
        if not isinstance(item, dict):
            raise InvalidRequest(f"requests.{i}: expected an object", param=f"requests.{i}")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise InvalidRequest(
                f"requests.{i}.custom_id: 1 to 64 letters, digits, '-' or '_'",
                param=f"requests.{i}.custom_id",
            )
        if custom_id in seen:
            raise InvalidRequest(
                f"requests.{i}.custom_id: {custom_id!r} is used twice", param=f"requests.{i}.custom_id"
            )
        if not isinstance(item.get("params"), dict):
            raise InvalidRequest(f"requests.{i}.params: expected an object", param=f"requests.{i}.params")
        seen.add(custom_id)
        out.append({"custom_id": custom_id, "params": item["params"]})
    return out


async def create_anthropic(
    files: Files, tenant: str, requests: list[dict[str, Any]], chunk_lines: int
) -> BatchRecord:
    store = files.store
    now = records.now()
    record = BatchRecord(
        id=records.new_batch_id("anthropic"),
        tenant=tenant,
        api="anthropic",
        endpoint="/v1/messages",
        status="validating",
        created_at=now,
        expires_at=now + records.WINDOW_SECONDS,
        chunk_lines=chunk_lines,
    )
    await records.create(store, record)
    total = await _write_chunks(await files.blob(), record, _each(requests))
    return await _start(store, record, total)


async def _each(items: Iterable[dict[str, Any]]) -> AsyncIterator[bytes]:
    for index, item in enumerate(items):
        yield _entry(item, index)
