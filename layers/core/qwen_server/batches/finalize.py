"""Ending a batch: lines without a result get one (canceled / expired, written once like any other), then the
results are gathered, in input order, into the API's output, and the record takes its final status.

OpenAI: an output file (2xx lines) and an error file (every other line), each line
`{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null, "error": {...} | null}`.
Anthropic: one results JSONL (`{"custom_id", "result": {"type": succeeded|errored|canceled|expired, ...}}`),
served at the batch's `results_url`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import orjson

from qwen_server.batches import records
from qwen_server.batches.lines import outcome_tokens
from qwen_server.batches.records import BatchRecord
from qwen_server.core.ids import hex_id

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchServices

log = logging.getLogger("qwen_server")
Ending = Literal["completed", "cancelled", "expired"]
SKIPPED = {"cancelled": "canceled", "expired": "expired", "completed": "expired"}
OPENAI_SKIP_ERRORS = {
    "canceled": ("batch_cancelled", "This request was not run: the batch was cancelled."),
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
}


async def _results(
    work: BatchServices, record: BatchRecord, skip: str
) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(line, outcome) in input order; a line without an outcome gets `skip`'s, written once first."""
    blob = await work.files.blob()
    store = work.store
    for chunk in range(record.chunks):
        raw = await blob.read(record.chunk_key(chunk))
        lines = [orjson.loads(x) for x in raw.split(b"\n") if x.strip()]
        keys = [records.line_key(record.id, line["i"]) for line in lines]
        found = await store.get_many(keys)
        for line, key, got in zip(lines, keys, found, strict=True):
            if got is None:
                skipped = orjson.dumps({"custom_id": line["custom_id"], "skipped": skip})
                await store.set_if_absent(key, skipped, ttl=records.RETAIN_SECONDS)
                got = await store.get(key)
                assert got is not None
            yield line, orjson.loads(got)


def _openai_line(outcome: dict[str, Any]) -> tuple[bool, bytes]:
    """(goes to the output file, the JSONL line)."""
    entry: dict[str, Any] = {"id": f"batch_req_{hex_id(32)}", "custom_id": outcome["custom_id"]}
    if "skipped" in outcome:
        code, message = OPENAI_SKIP_ERRORS[outcome["skipped"]]
        entry.update(response=None, error={"code": code, "message": message})
        return False, orjson.dumps(entry) + b"\n"
    entry.update(
        response={
            "status_code": outcome["status"],
            "request_id": outcome["request_id"],
            "body": outcome["body"],
        },
        error=None,
    )
    return bool(outcome["ok"]), orjson.dumps(entry) + b"\n"


def _anthropic_line(outcome: dict[str, Any]) -> bytes:
    if "skipped" in outcome:
        result: dict[str, Any] = {"type": outcome["skipped"]}
    elif outcome["ok"]:
        result = {"type": "succeeded", "message": outcome["body"]}
    else:
        result = {"type": "errored", "error": outcome["body"]}
    return orjson.dumps({"custom_id": outcome["custom_id"], "result": result}) + b"\n"


def _add_usage(total: dict[str, int], outcome: dict[str, Any]) -> None:
    body = outcome.get("body")
    if not outcome.get("ok") or not isinstance(body, dict) or not isinstance(body.get("usage"), dict):
        return
    prompt, completion = outcome_tokens(outcome)
    total["input_tokens"] = total.get("input_tokens", 0) + prompt
    total["output_tokens"] = total.get("output_tokens", 0) + completion
    total["total_tokens"] = total.get("total_tokens", 0) + prompt + completion


async def finalize(work: BatchServices, record: BatchRecord, ending: Ending, me: str) -> bool:
    """Gather the results and end the batch; False when another worker is doing it (or did)."""
    store = work.store
    group = records.final_lease(record.id)
    if not await store.lease_acquire(group, me, 1, max(300.0, work.lease_seconds)):
        return False
    try:
        current = await records.load(store, record.tenant, record.id)
        if current is None or current.ended:
            return False
        if ending == "completed":
            current = await records.update(store, record.tenant, record.id, _to_finalizing)
            assert current is not None
            if current.status != "finalizing":
                return False
        skip = SKIPPED[ending]
        counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        usage: dict[str, int] = {}

        async def tally() -> AsyncIterator[dict[str, Any]]:
            async for _, outcome in _results(work, current, skip):
                kind = outcome.get("skipped") or ("succeeded" if outcome["ok"] else "errored")
                counts[kind] += 1
                _add_usage(usage, outcome)
                yield outcome

        output_id = error_id = results_key = None
        if current.api == "openai":
            output_id = await _openai_file(work, current, tally(), "output", want_ok=True)
            if counts["succeeded"] == 0 and output_id is not None:
                await work.files.delete(current.tenant, output_id)
                output_id = None
            if counts["errored"] + counts["canceled"] + counts["expired"]:
                error_id = await _openai_file(
                    work, current, _outcomes(work, current, skip), "errors", want_ok=False
                )
        else:
            results_key = f"batches/{current.tenant}/{current.id}/results.jsonl"
            lines = (_anthropic_line(o) async for o in tally())
            await (await work.files.blob()).put(
                results_key, lines, "application/binary", expires_at=current.retained_until
            )
        log.info("batch %s %s: %s", current.id, ending, counts)

        def end(r: BatchRecord) -> bool:
            if r.ended:
                return False
            at = records.now()
            r.status = ending
            r.counts, r.usage = counts, usage
            r.output_file_id, r.error_file_id, r.results_key = output_id, error_id, results_key
            if ending == "completed":
                r.completed_at = at
            elif ending == "cancelled":
                r.cancelled_at = at
            else:
                r.expired_at = at
            return True

        await records.update(store, record.tenant, record.id, end)
        await store.delete(records.active_key(record.tenant, record.id))
        blob = await work.files.blob()
        for chunk in range(current.chunks):
            await blob.delete(current.chunk_key(chunk))
        return True
    finally:
        await store.lease_release(group, me)


def _to_finalizing(r: BatchRecord) -> bool:
    """in_progress -> finalizing; a batch already finalizing (its finalizer died) is left as it is."""
    if r.status != "in_progress":
        return False
    r.status = "finalizing"
    r.finalizing_at = records.now()
    return True


async def _outcomes(work: BatchServices, record: BatchRecord, skip: str) -> AsyncIterator[dict[str, Any]]:
    async for _, outcome in _results(work, record, skip):
        yield outcome


async def _openai_file(
    work: BatchServices,
    record: BatchRecord,
    outcomes: AsyncIterator[dict[str, Any]],
    name: str,
    *,
    want_ok: bool,
) -> str:
    """The output file (2xx lines) or the error file (the rest), streamed from one pass over the outcomes."""
    async def lines() -> AsyncIterator[bytes]:
        async for outcome in outcomes:
            ok, line = _openai_line(outcome)
            if ok == want_ok:
                yield line

    made = await work.files.generated(
        lines(),
        tenant=record.tenant,
        api="openai",
        purpose="batch_output",
        filename=f"{record.id}_{name}.jsonl",
        media_type="application/jsonl",
        expires_at=int(record.retained_until),
    )
    return made.id
