"""Which batch line a worker pass starts next: round robin over the tenants with work, and within a tenant over
its batches, one line at a time. A tenant's two-line batch starts its lines among the first few the worker
runs, whatever another tenant has queued before it, and a tenant's large batch does not hold back its own
small one either.

A batch is advanced chunk by chunk: the chunk whose lines are being started is held under its one-slot store
lease (`records.chunk_lease`), and so is every chunk with lines still running; a chunk is given back once its
last line has finished, marked done when every line of it has a result. Chunks leased by another worker are
skipped (that worker runs them).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from qwen_server.batches import records
from qwen_server.batches.records import BatchRecord

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchServices

Line = dict[str, Any]


@dataclass(eq=False)
class OpenChunk:
    """A chunk this worker holds the lease of: its lines, those not started yet, and how many are running."""

    index: int
    lines: list[Line]
    todo: collections.deque[Line]
    running: int = 0
    lost: bool = False  # the lease lapsed under this worker: another one has the chunk now


@dataclass(eq=False)
class BatchRun:
    """One in-progress batch as a worker pass advances it."""

    work: BatchServices
    record: BatchRecord
    me: str
    pending: collections.deque[int] = field(default_factory=collections.deque)  # chunks not done, not tried
    current: OpenChunk | None = None  # where the next line comes from
    held: list[OpenChunk] = field(default_factory=list)  # leases held: `current` and chunks still running
    stopped: bool = False  # cancelled or past its window: no new line starts
    concluded: bool = False

    @property
    def tenant(self) -> str:
        return self.record.tenant

    @property
    def running(self) -> int:
        return sum(c.running for c in self.held)

    @property
    def exhausted(self) -> bool:
        """No line of this batch will start in this pass."""
        return self.stopped or (
            not self.pending and (self.current is None or self.current.lost or not self.current.todo)
        )

    async def start(self) -> None:
        """Learn which chunks are not done yet."""
        keys = [records.chunk_done_key(self.record.id, c) for c in range(self.record.chunks)]
        flags = await self.work.store.get_many(keys)
        self.pending.extend(c for c, flag in enumerate(flags) if flag is None)

    async def ready(self) -> bool:
        """True when a line can start now (leasing and reading the next chunk when the current one is used up)."""
        while not self.stopped:
            chunk = self.current
            if chunk is not None and not chunk.lost and chunk.todo:
                return True
            if chunk is not None:
                self.current = None
                await self.finished(chunk)
            if not self.pending:
                return False
            self.current = await self._open(self.pending.popleft())
        return False

    def take(self) -> tuple[OpenChunk, Line]:
        """The next line (after `ready()` said there is one), counted as running."""
        chunk = self.current
        assert chunk is not None and chunk.todo
        chunk.running += 1
        return chunk, chunk.todo.popleft()

    async def stop(self) -> None:
        """No new line starts (the batch is cancelling or past its window); idle chunks are given back."""
        self.stopped = True
        for chunk in [c for c in self.held if not c.running]:
            await self.finished(chunk)

    async def finished(self, chunk: OpenChunk, *, line: bool = False) -> None:
        """A line of `chunk` has ended (`line=True`), or its last line was started: once nothing of it runs and
        nothing is left to start, mark it done if every line has a result, and give its lease back."""
        if line:
            chunk.running -= 1
        if chunk.running or chunk not in self.held:
            return
        if chunk is self.current and chunk.todo and not chunk.lost and not self.stopped:
            return
        if chunk is self.current:
            self.current = None
        self.held.remove(chunk)
        store = self.work.store
        try:
            if not chunk.lost:
                keys = [records.line_key(self.record.id, x["i"]) for x in chunk.lines]
                if all(got is not None for got in await store.get_many(keys)):
                    await store.set(
                        records.chunk_done_key(self.record.id, chunk.index), b"1", ttl=records.RETAIN_SECONDS
                    )
        finally:
            await store.lease_release(records.chunk_lease(self.record.id, chunk.index), self.me)

    async def release_all(self) -> None:
        """Give back every lease still held (the pass ends: its deadline, or the tenant's budget is spent)."""
        self.stopped = True
        for chunk in list(self.held):
            chunk.running = 0
            await self.finished(chunk)

    async def _open(self, index: int) -> OpenChunk | None:
        store = self.work.store
        group = records.chunk_lease(self.record.id, index)
        if not await store.lease_acquire(group, self.me, 1, self.work.lease_seconds):
            return None  # another worker has it
        try:
            raw = await (await self.work.files.blob()).read(self.record.chunk_key(index))
            lines: list[Line] = [orjson.loads(x) for x in raw.split(b"\n") if x.strip()]
            answered = await store.get_many([records.line_key(self.record.id, x["i"]) for x in lines])
        except BaseException:
            await store.lease_release(group, self.me)
            raise
        todo = collections.deque(x for x, got in zip(lines, answered, strict=True) if got is None)
        chunk = OpenChunk(index, lines, todo)
        self.held.append(chunk)
        return chunk


class Rotation:
    """The tenants with work in a ring, each with its batches in a ring; `next()` walks both one step."""

    def __init__(self, runs: Iterable[BatchRun], offset: int = 0) -> None:
        by_tenant: dict[str, collections.deque[BatchRun]] = {}
        for run in runs:
            by_tenant.setdefault(run.tenant, collections.deque()).append(run)
        self._tenants = collections.deque(sorted(by_tenant))
        if self._tenants:
            self._tenants.rotate(-(offset % len(self._tenants)))  # passes do not always begin with one tenant
        self._runs = by_tenant
        self.blocked: set[str] = set()  # tenants whose budget is spent for this pass

    def add(self, run: BatchRun) -> None:
        """A batch found after the pass began: its tenant joins the ring (next in line, if new)."""
        if run.tenant not in self._runs:
            self._runs[run.tenant] = collections.deque()
            self._tenants.appendleft(run.tenant)
        self._runs[run.tenant].append(run)

    def block(self, tenant: str) -> None:
        self.blocked.add(tenant)

    async def next(self) -> BatchRun | None:
        """The batch the next line comes from: the next tenant's next batch that has a line ready."""
        for _ in range(len(self._tenants)):
            tenant = self._tenants[0]
            self._tenants.rotate(-1)
            if tenant in self.blocked:
                continue
            runs = self._runs[tenant]
            for _ in range(len(runs)):
                run = runs[0]
                runs.rotate(-1)
                if await run.ready():
                    return run
        return None
