"""Admission across every instance that shares a store: global per-class caps, one FIFO queue per class,
wait timeouts and tenant fairness.

How a request gets a slot:
1. Fast path, one store call: `lease_acquire_fifo` without a ticket takes a slot only if nobody is queued, so
   a newcomer never overtakes a waiter.
2. Otherwise it pushes a ticket (`queue_push`, bounded: a full queue answers 429 at once) and waits on a local
   future. One dispatcher task per class and instance reads the queue head and the lease holders, applies the
   pure fairness rule (`scheduler.fairness.grant`) and claims slots for its own waiters with
   `lease_acquire_fifo(ticket=...)`, which moves the ticket to a lease atomically. Each instance decides from
   the same view, so they agree on who is next; the cap itself is enforced by the store on every claim.
   A ticket of another instance that has been granted a slot for `stall_grace` without claiming it (its
   process died or stalls) is passed over until its ticket lapses, so a dead instance cannot block the head.
3. The dispatcher polls with adaptive backoff (5 ms while things move, up to 100 ms when still) and is woken
   at once when a slot is released in this process. It keeps its waiters' tickets alive (`queue_touch` every
   ticket_ttl / 3), so a killed process's tickets lapse within `ticket_ttl`.
4. Held slots are leases renewed every lease_ttl / 3 by one background task; a killed process's slots come
   back within `lease_ttl`. Release is one store call.

A waiter that times out, or whose task is cancelled (client gone), removes its ticket; a slot granted to it
in the same instant is given back. Store failures surface as `StoreUnavailable` (503), never as a hang.

Account slots (`Claim`): a request also needs a slot on an upstream account, and accounts are usually the
scarcer of the two. The fast path takes the account slot right after the class slot; if every account is
busy it gives the class slot back and queues. The dispatcher takes a waiter's account slot when it is that
waiter's turn, before moving its ticket to a class lease, trying its waiters in the fairness order computed
against what is really held (so a tenant holding most of the busy accounts waits behind the others). Within
an instance the order is exact; across instances two waiters for the same freed account race by at most one
poll interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, Overloaded, StoreUnavailable
from qwen_server.scheduler import fairness
from qwen_server.scheduler.backoff import Backoff
from qwen_server.scheduler.base import Claim, ClassLimits, RequestClass
from qwen_server.scheduler.stats import ClassStats
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, Lease, Store

log = logging.getLogger("qwen_server.scheduler")
T = TypeVar("T")

QUEUE_FULL_RETRY_AFTER = 1.0
TIMEOUT_RETRY_AFTER = 5.0
STORE_FAILURES_BEFORE_GIVING_UP = 3


@dataclass(eq=False, slots=True)
class _Waiter:
    ticket: str
    future: asyncio.Future[Any]
    touched: float
    claim: Claim[Any] | None = None
    starved: bool = False  # its claim found nothing free at least once (for the timeout's message)
    since: float = 0.0  # when it arrived (the snapshot's oldest wait)


@dataclass(eq=False, slots=True)
class _Gate:
    """One request class in this instance: its store names, local waiters and dispatcher."""

    cls: RequestClass
    limits: ClassLimits
    group: str
    queue: str
    stats: ClassStats = field(default_factory=ClassStats)
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    held: int = 0
    pushing: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dispatcher: asyncio.Task[None] | None = None


class FairScheduler:
    def __init__(
        self,
        store: Store,
        limits: Mapping[RequestClass, ClassLimits],
        instance_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        lease_ttl: float = 30.0,
        ticket_ttl: float = 10.0,
        poll_min: float = 0.005,
        poll_max: float = 0.1,
        head_window: int = 64,
        stall_grace: float = 0.5,
        namespace: str = "sched",
    ) -> None:
        self.store = store
        self.instance_id = fairness.clean_instance(instance_id or f"{os.getpid()}{uuid.uuid4().hex[:6]}")
        self._clock = clock
        self._lease_ttl = lease_ttl
        self._ticket_ttl = ticket_ttl
        self._poll = (poll_min, poll_max)
        self._window = head_window
        self._stall_grace = stall_grace
        self._gates = {
            cls: _Gate(cls, lim, group=f"{namespace}:{cls}", queue=f"{namespace}:{cls}")
            for cls, lim in limits.items()
        }
        self._held: dict[str, _Gate] = {}  # holder -> its gate, for renewal
        self._renewer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._n = 0

    # ---- the protocol --------------------------------------------------------------------------------
    @asynccontextmanager
    async def admit(
        self, cls: RequestClass, tenant: str, claim: Claim[T] | None = None
    ) -> AsyncIterator[T | None]:
        gate = self._gates[cls]
        self._bind_loop()
        self._n += 1
        holder = fairness.make_id(self.instance_id, self._n, tenant)
        started = self._clock()
        claimed: T | None = await self._acquire(gate, holder, started, claim)
        gate.stats.admitted += 1
        gate.stats.waits.append(self._clock() - started)
        self._hold(gate, holder)
        try:
            yield claimed
        finally:
            also = claim.deferred_release(claimed) if claim is not None and claimed is not None else None
            try:
                await self._release(gate, holder, also)
            finally:
                if also is not None and claim is not None and claimed is not None:
                    claim.released(claimed)

    def wake(self) -> None:
        """Something a waiter may claim came free in this instance (an account slot): look again now."""
        for gate in self._gates.values():
            if gate.waiters:
                gate.wake.set()

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        now = self._clock()
        for cls, gate in self._gates.items():
            local_queued = len(gate.waiters)
            oldest = max((now - w.since for w in gate.waiters.values()), default=None)
            try:
                in_flight, queued = await asyncio.gather(
                    self.store.lease_count(gate.group), self.store.queue_len(gate.queue)
                )
                source = "store"
            except StoreUnavailable:
                in_flight, queued, source = gate.held, local_queued, "local"
            out[cls] = {
                "limit": gate.limits.concurrent,
                "queue_limit": gate.limits.queue,
                "in_flight": in_flight,
                "queued": queued,
                "local_in_flight": gate.held,
                "local_queued": local_queued,
                "local_oldest_wait_s": None if oldest is None else round(oldest, 3),
                "source": source,
                **gate.stats.as_dict(),
            }
        return out

    async def aclose(self) -> None:
        """Stop background tasks (held leases simply lapse); for tests and orderly shutdown."""
        tasks = [g.dispatcher for g in self._gates.values() if g.dispatcher] + [self._renewer]
        for task in tasks:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)

    def _bind_loop(self) -> None:
        """Background tasks and events belong to one event loop; a new loop (tests, some serverless
        adapters) starts from a clean slate instead of waking objects of a dead loop."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._renewer = None
        self._held.clear()
        for gate in self._gates.values():
            gate.wake, gate.dispatcher, gate.held, gate.pushing = asyncio.Event(), None, 0, 0
            gate.waiters.clear()

    # ---- acquiring -----------------------------------------------------------------------------------
    async def _acquire(self, gate: _Gate, holder: str, started: float, claim: Claim[T] | None) -> T | None:
        lim = gate.limits
        starved = False
        queue_now = False
        if claim is not None and not gate.waiters and not gate.pushing:
            # the usual case, one round trip: the class slot and the offered account slot together
            offer = await claim.offer()
            if offer is not None:
                first = Lease(gate.group, holder, lim.concurrent, self._lease_ttl)
                pair = self.store.lease_acquire_pair(first, gate.queue, offer.lease)
                got = await self._settled(pair, lambda r: self._undo_pair(r, first, offer.lease))
                if got == PAIR_TAKEN:
                    return offer.adopt()
                queue_now = got == FIRST_REFUSED  # someone waits, or the class is full: join the queue
        if not queue_now and not gate.waiters and not gate.pushing:  # our own queued requests would refuse
            fast = self.store.lease_acquire_fifo(
                gate.group, holder, lim.concurrent, self._lease_ttl, gate.queue
            )
            if await self._settled(fast, lambda ok: self._release_if(gate, holder, ok)):
                if claim is None:
                    return None
                try:
                    value = await self._settled(claim.take(), lambda v: self._give_back(claim, v))
                except BaseException:
                    await cleanup.complete(self._quietly(self.store.lease_release(gate.group, holder), gate))
                    raise
                if value is not None:
                    return value
                starved = True  # every account is busy: give the class slot back and queue for both
                await cleanup.complete(self._quietly(self.store.lease_release(gate.group, holder), gate))
        push = self.store.queue_push(gate.queue, holder, self._ticket_ttl, lim.queue)
        gate.pushing += 1  # until registered as a waiter: later arrivals here must not take the fast path
        try:
            position = await self._settled(
                push,
                lambda pos: self.store.queue_remove(gate.queue, holder) if pos is not None else _nothing(),
            )
        finally:
            gate.pushing -= 1
        if position is None:
            gate.stats.queue_full += 1
            raise Overloaded(
                f"the {gate.cls} queue is full ({lim.queue} waiting)", retry_after=QUEUE_FULL_RETRY_AFTER
            )
        future = asyncio.get_running_loop().create_future()
        waiter = _Waiter(holder, future, self._clock(), claim, starved, since=started)
        gate.waiters[holder] = waiter
        self._kick(gate)
        try:
            await asyncio.wait({waiter.future}, timeout=max(0.0, lim.timeout - (self._clock() - started)))
        except asyncio.CancelledError:
            cleanup.spawn(self._abandon(gate, waiter))
            raise
        if waiter.future.done():
            return cast("T | None", waiter.future.result())  # or raises what the dispatcher failed us with
        gate.stats.timed_out += 1
        await cleanup.complete(self._abandon(gate, waiter))
        what = "a free upstream account slot" if waiter.starved else f"a {gate.cls} slot"
        raise Overloaded(
            f"waited {lim.timeout:g}s for {what}; the gateway is at capacity, retry later",
            code="queue_timeout",
            retry_after=TIMEOUT_RETRY_AFTER,
        )

    async def _abandon(self, gate: _Gate, waiter: _Waiter) -> None:
        """Leave the queue; a class slot or claim granted in the meantime is given back."""
        gate.waiters.pop(waiter.ticket, None)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            await self._quietly(self.store.lease_release(gate.group, waiter.ticket), gate)
            if waiter.claim is not None and future.result() is not None:
                await self._give_back(waiter.claim, future.result())
            return
        future.cancel()
        await self._quietly(self.store.queue_remove(gate.queue, waiter.ticket), gate)

    async def _settled(self, op: Awaitable[T], undo: Callable[[T], Awaitable[None]]) -> T:
        """Await a store write; if our task is cancelled meanwhile, let it finish and undo it afterwards (given
        its result), so a cancelled request never leaves a slot or ticket behind for the whole TTL."""
        task = asyncio.ensure_future(op)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:

            async def undo_after() -> None:
                done = await asyncio.gather(task, return_exceptions=True)
                if not isinstance(done[0], BaseException):
                    await self._quietly(undo(done[0]), None)

            cleanup.spawn(undo_after())
            raise

    async def _undo_pair(self, got: int, first: Lease, second: Lease) -> None:
        if got == PAIR_TAKEN:
            await self.store.lease_release_many([(first.group, first.holder), (second.group, second.holder)])

    async def _release_if(self, gate: _Gate, holder: str, acquired: bool) -> None:
        if acquired:
            await self.store.lease_release(gate.group, holder)

    async def _give_back(self, claim: Claim[T], value: T | None) -> None:
        if value is not None:
            await claim.give_back(value)

    # ---- the dispatcher ------------------------------------------------------------------------------
    def _kick(self, gate: _Gate) -> None:
        gate.wake.set()
        if gate.dispatcher is None or gate.dispatcher.done():
            gate.dispatcher = asyncio.get_running_loop().create_task(self._dispatch(gate))
            gate.dispatcher.add_done_callback(lambda task: self._dispatcher_ended(gate, task))

    def _dispatcher_ended(self, gate: _Gate, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("the %s dispatcher crashed", gate.cls, exc_info=task.exception())
        self._fail_all(gate, StoreUnavailable(f"the {gate.cls} scheduler failed: {task.exception()!r}"))

    async def _dispatch(self, gate: _Gate) -> None:
        backoff = Backoff(*self._poll, current=self._poll[0])
        last_view: tuple[Any, ...] = ()
        failures = 0
        unclaimed: dict[str, float] = {}  # other instances' tickets granted a slot, since when
        while gate.waiters:
            gate.wake.clear()
            try:
                await self._touch_due(gate)
                head, holders = await asyncio.gather(
                    self.store.queue_head(gate.queue, self._window), self.store.lease_holders(gate.group)
                )
                now = self._clock()
                live = [t for t in head if now - unclaimed.get(t, now) < self._stall_grace]
                chosen = fairness.grant(live, holders, gate.limits.concurrent)
                unclaimed = {t: unclaimed.get(t, now) for t in chosen if t not in gate.waiters}
                claims = await self._claim_in_turn(gate, chosen, live, holders)
                failures = 0
            except StoreUnavailable as exc:
                failures += 1
                if failures >= STORE_FAILURES_BEFORE_GIVING_UP:
                    self._fail_all(gate, exc)
                await self._nap(gate, backoff.next(progressed=False, changed=False))
                continue
            view = (tuple(head), len(holders))
            # a waiter of ours among the next `limit` tickets gets the next free slot: look often, or the slot
            # idles until our next poll (slots freed in other processes do not wake us)
            next_up = any(t in gate.waiters for t in live[: gate.limits.concurrent])
            delay = backoff.next(progressed=any(claims) or next_up, changed=view != last_view)
            last_view = view
            if await self._nap(gate, delay):
                backoff.reset()

    async def _nap(self, gate: _Gate, delay: float) -> bool:
        """Sleep up to `delay`; True when woken early by a local release or a new waiter."""
        if gate.wake.is_set() or not gate.waiters:
            return True
        try:
            await asyncio.wait_for(gate.wake.wait(), delay)
            return True
        except TimeoutError:
            return False

    async def _claim_in_turn(
        self, gate: _Gate, chosen: list[str], live: list[str], holders: list[str]
    ) -> list[bool]:
        """Claim for our waiters among `chosen`, one at a time in their turn.

        The turn order is the fairness rule applied against the slots really held: when accounts, not class
        slots, are the bottleneck, a tenant holding more than its share of them goes after the others."""
        mine = [t for t in chosen if t in gate.waiters]
        if len(mine) > 1:
            rank = {t: i for i, t in enumerate(fairness.order(live, holders, max(1, len(holders))))}
            mine.sort(key=lambda t: rank.get(t, len(rank)))
        starved: set[str] = set()
        results: list[bool] = []
        for ticket in mine:
            waiter = gate.waiters.get(ticket)
            if waiter is None or (waiter.claim is not None and waiter.claim.key in starved):
                continue
            results.append(await self._claim(gate, waiter, starved))
        return results

    async def _claim(self, gate: _Gate, waiter: _Waiter, starved: set[str]) -> bool:
        lim = gate.limits
        value: Any = None
        if waiter.claim is not None:
            try:
                value = await waiter.claim.take()
            except GatewayError as exc:
                if isinstance(exc, StoreUnavailable):
                    raise
                # waiting cannot help this request (no account serves its model any more): fail it now
                gate.waiters.pop(waiter.ticket, None)
                await self._quietly(self.store.queue_remove(gate.queue, waiter.ticket), gate)
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
                return False
            if value is None:
                waiter.starved = True
                starved.add(waiter.claim.key)
                return False
        ok = await self.store.lease_acquire_fifo(
            gate.group, waiter.ticket, lim.concurrent, self._lease_ttl, gate.queue, waiter.ticket
        )
        if not ok:
            if waiter.claim is not None:
                await self._give_back(waiter.claim, value)
            return False
        gate.waiters.pop(waiter.ticket, None)
        if waiter.future.done():  # timed out or cancelled while we claimed: give both back
            await self._quietly(self.store.lease_release(gate.group, waiter.ticket), gate)
            if waiter.claim is not None:
                await self._give_back(waiter.claim, value)
        else:
            waiter.future.set_result(value)
        return True

    async def _touch_due(self, gate: _Gate) -> None:
        now = self._clock()
        due = [w for w in gate.waiters.values() if now - w.touched >= self._ticket_ttl / 3]
        if not due:
            return
        alive = await asyncio.gather(
            *(self.store.queue_touch(gate.queue, w.ticket, self._ticket_ttl) for w in due)
        )
        for waiter, ok in zip(due, alive, strict=True):
            waiter.touched = now
            if not ok and waiter.ticket in gate.waiters:  # lapsed during a stall: queue again, at the back
                again = await self.store.queue_push(
                    gate.queue, waiter.ticket, self._ticket_ttl, gate.limits.queue
                )
                if again is None:
                    gate.waiters.pop(waiter.ticket, None)
                    gate.stats.queue_full += 1
                    if not waiter.future.done():
                        waiter.future.set_exception(
                            Overloaded(f"the {gate.cls} queue is full", retry_after=QUEUE_FULL_RETRY_AFTER)
                        )

    def _fail_all(self, gate: _Gate, exc: StoreUnavailable) -> None:
        for waiter in list(gate.waiters.values()):
            gate.waiters.pop(waiter.ticket, None)
            if not waiter.future.done():
                waiter.future.set_exception(StoreUnavailable(f"scheduler lost the store: {exc.message}"))

    # ---- holding and releasing -----------------------------------------------------------------------
    def _hold(self, gate: _Gate, holder: str) -> None:
        gate.held += 1
        self._held[holder] = gate
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _release(self, gate: _Gate, holder: str, also: tuple[str, str] | None = None) -> None:
        """Free the class slot, and with it in the same round trip `also` (a claim's slot) when given."""
        gate.held -= 1
        self._held.pop(holder, None)
        if also is None:
            release = self.store.lease_release(gate.group, holder)
        else:
            release = self.store.lease_release_many([(gate.group, holder), also])
        await cleanup.complete(self._quietly(release, gate))

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_ttl / 3)
            held = list(self._held.items())
            results = await asyncio.gather(
                *(self.store.lease_renew(g.group, h, self._lease_ttl) for h, g in held),
                return_exceptions=True,
            )
            for (holder, gate), ok in zip(held, results, strict=True):
                if ok is False and holder in self._held:
                    gate.stats.leases_lost += 1
                    log.warning("lease %s of %s lapsed before renewal (stalled process?)", holder, gate.cls)
                    cap = gate.limits.concurrent  # take it again if the cap allows, to keep the count honest
                    await self._quietly(
                        self.store.lease_acquire(gate.group, holder, cap, self._lease_ttl), None
                    )
                elif isinstance(ok, BaseException):
                    log.warning("renewing lease %s failed: %s", holder, ok)

    # ---- small helpers -------------------------------------------------------------------------------
    async def _quietly(self, op: Awaitable[Any], gate: _Gate | None) -> None:
        """Cleanup writes: a failure only delays the slot or ticket until its TTL, so log it and go on."""
        try:
            await op
        except StoreUnavailable as exc:
            log.warning("scheduler cleanup failed, the entry will lapse on its TTL: %s", exc)
        finally:
            if gate is not None:
                gate.wake.set()


async def _nothing() -> None:
    return None
