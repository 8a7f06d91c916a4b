"""The batch worker: one `tick` is a pass over every active batch, leasing chunks of lines and running them;
`run_forever` repeats ticks (inside `serve`, or as `qwen-server worker`); serverless schedules call `tick`.

- A chunk is worked under a one-slot store lease, renewed while its lines run; when a worker dies the lease
  lapses within `BATCH_LEASE_SECONDS` and the next tick anywhere takes the chunk over.
- Each line's result is written with `set_if_absent`, so a line run twice (its worker died after running it, or
  a lapsed lease was taken over) still has exactly one result, and a line already answered is not run again.
- Before each line the worker re-reads the batch: once it is cancelling or past its window, no new line starts.
- Lines yield to interactive traffic: one starts only while the chat class has a free slot and nobody queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import orjson

from qwen_server.batches import records
from qwen_server.batches.finalize import finalize
from qwen_server.batches.lines import run_line
from qwen_server.batches.records import BatchRecord
from qwen_server.core.errors import GatewayError
from qwen_server.core.ids import hex_id

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchServices, BatchSource

log = logging.getLogger("qwen_server")
IDLE_POLL = 1.0  # seconds between passes when nothing woke the worker
YIELD_POLL = 0.2  # seconds between looks at the chat class while interactive traffic has it full
_wake: asyncio.Event | None = None


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{hex_id(6)}"


def wake_local() -> bool:
    """Wake this process's worker loop, if one runs here; True if it does."""
    if _wake is None:
        return False
    _wake.set()
    return True


class _Lost(Exception):
    """The chunk's lease was lost (this worker stalled past it): stop, another worker has the chunk."""


async def interactive_busy(work: BatchServices) -> bool:
    """True while live traffic could use what a batch line would take: the chat class is full or has a queue."""
    chat = (await work.gateway.scheduler.snapshot()).get("chat")
    if chat is None:
        return False
    return bool(chat["queued"] > 0 or chat["in_flight"] >= chat["limit"])


async def tick(work: BatchServices, *, seconds: float, me: str | None = None) -> dict[str, int]:
    """Work every active batch until there is nothing left to do or `seconds` have passed."""
    me = me or worker_id()
    deadline = time.monotonic() + seconds
    done = {"batches": 0, "lines": 0, "finalized": 0}
    active = await work.store.scan(records.ACTIVE)
    for key in sorted(active):
        tenant, _, batch_id = key[len(records.ACTIVE) :].partition(":")
        if time.monotonic() >= deadline:
            break
        record = await records.load(work.store, tenant, batch_id)
        if record is None or record.ended:
            await work.store.delete(key)
            continue
        done["batches"] += 1
        lines, finalized = await _advance(work, record, me, deadline)
        done["lines"] += lines
        done["finalized"] += int(finalized)
    return done


async def _advance(work: BatchServices, record: BatchRecord, me: str, deadline: float) -> tuple[int, bool]:
    store = work.store
    if record.status == "finalizing":  # every line has its result; the worker gathering them died
        return 0, await finalize(work, record, "completed", me)
    if records.now() >= record.expires_at:
        return 0, await finalize(work, record, "expired", me)
    if record.status == "cancelling":
        return 0, await finalize(work, record, "cancelled", me)
    if record.status != "in_progress":
        return 0, False
    ran = 0
    flags = await store.get_many([records.chunk_done_key(record.id, c) for c in range(record.chunks)])
    for chunk, flag in enumerate(flags):
        if flag is not None or time.monotonic() >= deadline:
            continue
        group = records.chunk_lease(record.id, chunk)
        if not await store.lease_acquire(group, me, 1, work.lease_seconds):
            continue  # another worker has it
        try:
            ran += await _chunk(work, record, chunk, me, deadline)
        except _Lost:
            log.warning("batch %s chunk %d: lease lost, leaving it to another worker", record.id, chunk)
        finally:
            await store.lease_release(group, me)
    flags = await store.get_many([records.chunk_done_key(record.id, c) for c in range(record.chunks)])
    current = await records.load(store, record.tenant, record.id)
    if current is None:
        return ran, False
    if current.status == "cancelling":
        return ran, await finalize(work, current, "cancelled", me)
    if all(f is not None for f in flags) and current.status == "in_progress":
        return ran, await finalize(work, current, "completed", me)
    return ran, False


async def _stopped(work: BatchServices, record: BatchRecord) -> bool:
    current = await records.load(work.store, record.tenant, record.id)
    return current is None or current.status != "in_progress" or records.now() >= current.expires_at


async def _chunk(work: BatchServices, record: BatchRecord, chunk: int, me: str, deadline: float) -> int:
    """Run the chunk's unanswered lines; marks the chunk done when every line has its result."""
    store = work.store
    raw = await (await work.files.blob()).read(record.chunk_key(chunk))
    lines: list[dict[str, Any]] = [orjson.loads(x) for x in raw.split(b"\n") if x.strip()]
    answered = await store.get_many([records.line_key(record.id, line["i"]) for line in lines])
    todo = [line for line, got in zip(lines, answered, strict=True) if got is None]
    ttl = work.lease_seconds
    group = records.chunk_lease(record.id, chunk)
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            if not await store.lease_renew(group, me, ttl):
                lost.set()
                return

    width = max(1, work.line_concurrency)
    ran = 0
    renewer = asyncio.create_task(renew())
    try:
        pending: set[asyncio.Task[None]] = set()
        for line in todo:
            while await interactive_busy(work):
                if time.monotonic() >= deadline or lost.is_set():
                    break
                await asyncio.sleep(YIELD_POLL)
            if lost.is_set() or time.monotonic() >= deadline or await _stopped(work, record):
                break
            if len(pending) >= width:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.create_task(_one(work, record, line)))
            ran += 1
        if pending:
            await asyncio.gather(*pending)
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    if lost.is_set():
        raise _Lost()
    answered = await store.get_many([records.line_key(record.id, line["i"]) for line in lines])
    if all(got is not None for got in answered):
        await store.set(records.chunk_done_key(record.id, chunk), b"1", ttl=records.RETAIN_SECONDS)
    return ran


async def _one(work: BatchServices, record: BatchRecord, line: dict[str, Any]) -> None:
    outcome = await run_line(work, record.api, record.endpoint, record.tenant, line)
    written = await work.store.set_if_absent(
        records.line_key(record.id, line["i"]), orjson.dumps(outcome), ttl=records.RETAIN_SECONDS
    )
    if written:
        kind = "succeeded" if outcome["ok"] else "errored"
        await work.store.incr(f"batch-count:{record.id}:{kind}", 1, ttl=records.RETAIN_SECONDS)


async def run_forever(stop: asyncio.Event, services: BatchSource, *, seconds: float = 30.0) -> None:
    """Ticks until `stop` is set, waking at once when a batch is created here (`wake_local`); `services` is
    asked on each pass, so a configuration or store error is logged and tried again."""
    global _wake
    _wake = asyncio.Event()
    me = worker_id()
    while not stop.is_set():
        try:
            await tick(await services(), seconds=seconds, me=me)
        except GatewayError as exc:  # misconfigured, or the store is down: say so and try again later
            log.warning("batch worker: %s", exc.message)
        except Exception:
            log.exception("batch worker pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(_wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=IDLE_POLL, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
        _wake.clear()
