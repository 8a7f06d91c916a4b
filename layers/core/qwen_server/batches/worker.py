"""The batch worker: one `tick` is a pass over every active batch, leasing chunks of lines and running them;
`run_forever` repeats ticks (inside `serve`, or as `qwen-server worker`); serverless schedules call `tick`.

- Lines start round robin over the tenants with work, and over each tenant's batches (`batches.rotation`):
  a small batch is not stuck behind a large one, whoever's it is, and none is left to expire behind another.
  A batch created while a pass runs joins that pass (at once when created in this process, which wakes the
  loop; within `RESCAN_SECONDS` when created elsewhere).
- A chunk is worked under a one-slot store lease, renewed while its lines run; when a worker dies the lease
  lapses within `BATCH_LEASE_SECONDS` and the next tick anywhere takes the chunk over.
- Each line's result is written with `set_if_absent`, so a line run twice (its worker died after running it, or
  a lapsed lease was taken over) still has exactly one result, and a line already answered is not run again.
- Before each line the worker re-reads the batch: once it is cancelling or past its window, no new line starts.
- Lines yield to interactive traffic: one starts only while the chat class has a free slot and nobody queued.
- Lines are their tenant's requests (`BatchServices.budget`): counted against its rate limits and in its usage;
  while its window is full its lines wait (until a later pass) and the other tenants' go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from qwen_server.batches import records
from qwen_server.batches.finalize import Ending, finalize
from qwen_server.batches.lines import outcome_tokens, run_line
from qwen_server.batches.records import BatchRecord
from qwen_server.batches.rotation import BatchRun, OpenChunk, Rotation
from qwen_server.core.errors import GatewayError
from qwen_server.core.ids import hex_id

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchServices, BatchSource

log = logging.getLogger("qwen_server")
IDLE_POLL = 1.0  # seconds between passes when nothing woke the worker
YIELD_POLL = 0.2  # seconds between looks at the chat class while interactive traffic has it full
RESCAN_SECONDS = 1.0  # how often a pass looks for batches created elsewhere since it began
_wake: asyncio.Event | None = None
_passes = itertools.count()  # where each pass begins in the ring of tenants


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{hex_id(6)}"


def wake_local() -> bool:
    """Wake this process's worker loop, if one runs here; True if it does."""
    if _wake is None:
        return False
    _wake.set()
    return True


async def interactive_busy(work: BatchServices) -> bool:
    """True while live traffic could use what a batch line would take: the chat class is full or has a queue."""
    chat = (await work.gateway.scheduler.snapshot()).get("chat")
    if chat is None:
        return False
    return bool(chat["queued"] > 0 or chat["in_flight"] >= chat["limit"])


async def tick(
    work: BatchServices, *, seconds: float, me: str | None = None, max_lines: int | None = None
) -> dict[str, int]:
    """Work every active batch until there is nothing left to do, `seconds` have passed or `max_lines` lines
    have started; lines are started round robin over tenants and their batches (`batches.rotation`)."""
    me = me or worker_id()
    deadline = time.monotonic() + seconds
    done = {"batches": 0, "lines": 0, "finalized": 0}
    endings: list[asyncio.Task[bool]] = []
    known: set[str] = set()

    async def discover() -> list[BatchRun]:
        """The in-progress batches not seen yet in this pass (those that end now get their ending)."""
        found: list[BatchRun] = []
        for key in sorted(await work.store.scan(records.ACTIVE)):
            tenant, _, batch_id = key[len(records.ACTIVE) :].partition(":")
            if batch_id in known:
                continue
            known.add(batch_id)
            record = await records.load(work.store, tenant, batch_id)
            if record is None or record.ended:
                await work.store.delete(key)
                continue
            done["batches"] += 1
            ending = _ending(record)
            if ending is not None:
                endings.append(asyncio.create_task(finalize(work, record, ending, me)))
            elif record.status == "in_progress":
                run = BatchRun(work, record, me)
                await run.start()
                found.append(run)
        return found

    try:
        runs = await discover()
        if runs:
            done["lines"] = await _run_lines(work, runs, deadline, max_lines, endings, discover)
        done["finalized"] = sum(await asyncio.gather(*endings))
    finally:
        for task in endings:
            task.cancel()
        await work.budget.settle()
    return done


def _ending(record: BatchRecord) -> Ending | None:
    """How a batch ends at this pass, if it does: its lines all answered (a finalizer died), past its window,
    or cancelling."""
    if record.status == "finalizing":
        return "completed"
    if records.now() >= record.expires_at:
        return "expired"
    if record.status == "cancelling":
        return "cancelled"
    return None


async def _run_lines(
    work: BatchServices,
    runs: list[BatchRun],
    deadline: float,
    max_lines: int | None,
    endings: list[asyncio.Task[bool]],
    discover: Callable[[], Awaitable[list[BatchRun]]],
) -> int:
    """Start lines round robin, at most `line_concurrency` at once; a batch whose lines are all started and
    ended is concluded at once (so a small batch ends in about its own time). A batch created during the pass
    joins it (at once when created in this process, else within `RESCAN_SECONDS`). The number of lines
    started."""
    ring = Rotation(runs, next(_passes))
    rescan_at = time.monotonic() + RESCAN_SECONDS
    width = max(1, work.line_concurrency)
    running: dict[asyncio.Task[None], tuple[BatchRun, OpenChunk]] = {}
    started = 0

    def conclude(run: BatchRun) -> None:
        if not run.concluded and not run.running and run.exhausted:
            run.concluded = True
            endings.append(asyncio.create_task(_conclude(work, run)))

    async def settle(at_most: float | None = None) -> None:
        ended, _ = await asyncio.wait(running, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
        for task in ended:
            run, chunk = running.pop(task)
            task.result()
            await run.finished(chunk, line=True)
            conclude(run)

    renewer = asyncio.create_task(_renew(work, runs))
    try:
        while time.monotonic() < deadline and (max_lines is None or started < max_lines):
            if len(running) >= width:
                await settle()
                continue
            if (_wake is not None and _wake.is_set()) or time.monotonic() >= rescan_at:
                if _wake is not None:
                    _wake.clear()
                rescan_at = time.monotonic() + RESCAN_SECONDS
                for joined in await discover():
                    runs.append(joined)  # the same list the lease renewer walks
                    ring.add(joined)
            if await interactive_busy(work):
                await (settle(YIELD_POLL) if running else asyncio.sleep(YIELD_POLL))
                continue
            run = await ring.next()
            if run is None:
                if not running:
                    break
                await settle()
                continue
            if await _stopped(work, run.record):
                await run.stop()
                conclude(run)
                continue
            if not await work.budget.admit(run.tenant):
                ring.block(run.tenant)  # its lines wait for the next window; other tenants' go on
                continue
            chunk, line = run.take()
            running[asyncio.create_task(_one(work, run.record, line))] = (run, chunk)
            started += 1
        while running:
            await settle()
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        for task in running:
            task.cancel()
        for run in runs:
            await run.release_all()
    for run in runs:
        conclude(run)
    return started


async def _renew(work: BatchServices, runs: list[BatchRun]) -> None:
    """Renew the lease of every chunk held, every third of its term; a chunk whose lease lapsed is lost."""
    ttl = work.lease_seconds
    while True:
        await asyncio.sleep(ttl / 3)
        for run in runs:
            for chunk in list(run.held):
                group = records.chunk_lease(run.record.id, chunk.index)
                if not chunk.lost and not await work.store.lease_renew(group, run.me, ttl):
                    chunk.lost = True
                    log.warning(
                        "batch %s chunk %d: lease lost, leaving it to another worker", run.record.id, chunk.index
                    )


async def _conclude(work: BatchServices, run: BatchRun) -> bool:
    """End the batch when it is done (every chunk done), cancelling or past its window."""
    record = run.record
    flags = await work.store.get_many([records.chunk_done_key(record.id, c) for c in range(record.chunks)])
    current = await records.load(work.store, record.tenant, record.id)
    if current is None or current.ended:
        return False
    ending = _ending(current)
    if ending is None and current.status == "in_progress" and all(f is not None for f in flags):
        ending = "completed"
    if ending is None:
        return False
    return await finalize(work, current, ending, run.me)


async def _stopped(work: BatchServices, record: BatchRecord) -> bool:
    current = await records.load(work.store, record.tenant, record.id)
    return current is None or current.status != "in_progress" or records.now() >= current.expires_at


async def _one(work: BatchServices, record: BatchRecord, line: dict[str, Any]) -> None:
    outcome = await run_line(work, record.api, record.endpoint, record.tenant, line)
    work.budget.spent(record.tenant, *outcome_tokens(outcome))
    written = await work.store.set_if_absent(
        records.line_key(record.id, line["i"]), orjson.dumps(outcome), ttl=records.RETAIN_SECONDS
    )
    if written:
        kind = "succeeded" if outcome["ok"] else "errored"
        await work.store.incr(f"batch-count:{record.id}:{kind}", 1, ttl=records.RETAIN_SECONDS)


async def sweep_blobs(work: BatchServices) -> int:
    """Delete the expired blobs of a local blob store (a scheduled tick's last step; `blob.expiry`)."""
    return await (await work.files.blob()).sweep(time.time())


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
