"""The pool's shared state in the store: keys, codecs, a bounded-staleness read cache and CAS updates.

Every instance reads arms and health through a local cache whose entries are at most `max_staleness` seconds
old (1 s by default), so choosing an account costs no store round trip most of the time, and N instances share
one view that is at most that stale. Writes never go through the cache: each is a compare-and-set loop on the
live value (bounded retries, each retry re-reading the store), so concurrent updates from several instances
are all kept. After its own write an instance caches what it wrote, so it reads its own writes.

Keys (all state is keyed by account id, so adding or removing an account touches nobody else's):

    pool:arm:{account}:{model}   ArmState as JSON        discounted posterior + latency EWMAs
    pool:health:{account}        HealthState as JSON     cooldown, ejection, disabled reason
    pool:slots:{account}         lease group             in-flight attempts, capped at max_concurrent
    pool:pin:{session}           account id              session affinity, with a TTL
    pool:probe:{account}         lease group (limit 1)   one probe at a time of an auth-suspect account
    pool:verify:{account}        lease group (limit 1)   one credential check per account per interval
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import orjson

from qwen_server.pool.bandit import ArmState
from qwen_server.pool.health import HealthState
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.pool")

ARM_PREFIX = "pool:arm:"


def arm_key(account_id: str, model: str) -> str:
    return f"{ARM_PREFIX}{account_id}:{model}"


def health_key(account_id: str) -> str:
    return f"pool:health:{account_id}"


def slots_key(account_id: str) -> str:
    return f"pool:slots:{account_id}"


def pin_key(session_id: str) -> str:
    return f"pool:pin:{session_id}"


def probe_key(account_id: str) -> str:
    return f"pool:probe:{account_id}"


def verify_key(account_id: str) -> str:
    return f"pool:verify:{account_id}"


_ARM_FIELDS = tuple(f.name for f in fields(ArmState))
_HEALTH_FIELDS = tuple(f.name for f in fields(HealthState))


def encode_arm(arm: ArmState, account_id: str, model: str) -> bytes:
    """The arm as JSON, naming its account and model so a prefix scan needs no key parsing."""
    data = {name: getattr(arm, name) for name in _ARM_FIELDS}
    return orjson.dumps({**data, "account": account_id, "model": model})


def decode_arm(raw: bytes | None) -> ArmState | None:
    if raw is None:
        return None
    data: dict[str, Any] = orjson.loads(raw)
    known = {k: v for k, v in data.items() if k in _ARM_FIELDS}
    known["recent_ttft"] = tuple(known.get("recent_ttft", ()))
    return ArmState(**known)


def arm_owner(raw: bytes) -> tuple[str, str]:
    """(account id, model) recorded inside an encoded arm."""
    data = orjson.loads(raw)
    return str(data.get("account", "")), str(data.get("model", ""))


def encode_health(health: HealthState) -> bytes:
    return orjson.dumps({name: getattr(health, name) for name in _HEALTH_FIELDS})


def decode_health(raw: bytes | None) -> HealthState | None:
    if raw is None:
        return None
    data: dict[str, Any] = orjson.loads(raw)
    if data.get("disabled") and "disabled_until" not in data:
        # written before disables lapsed: that one lapses now, so the account is probed instead of waiting
        # out the state's 7-day expiry (an intended permanent disable is written with `disabled_until: null`)
        data["disabled_until"] = 0.0
    return HealthState(**{k: v for k, v in data.items() if k in _HEALTH_FIELDS})


Change = Callable[[bytes | None], bytes | None]


class StateCache:
    """Reads at most `max_staleness` seconds old; CAS-loop writes against the live store.

    Statistics may also be written behind (`update_later`): the change shows in this instance's view at once
    and reaches the store at the next `flush`, so a request's learning costs no round trip of its own; other
    instances see it one flush interval later than they otherwise would.
    """

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        *,
        max_staleness: float = 1.0,
        cas_attempts: int = 8,
    ) -> None:
        self.store = store
        self._clock = clock
        self._max_staleness = max_staleness
        self._cas_attempts = cas_attempts
        self._entries: dict[str, tuple[float, bytes | None]] = {}
        self._pending: dict[str, tuple[list[Change], float | None]] = {}  # key -> (changes in order, ttl)
        self._flushing = asyncio.Lock()  # one flush at a time: see `flush`

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def read_many(self, keys: list[str]) -> dict[str, bytes | None]:
        """Values for `keys`; only the entries older than the staleness bound cost one `get_many`."""
        now = self._clock()
        out: dict[str, bytes | None] = {}
        missing: list[str] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] <= self._max_staleness:
                out[key] = entry[1]
            else:
                missing.append(key)
        if missing:
            values = await self.store.get_many(missing)
            for key, value in zip(missing, values, strict=True):
                queued = self._pending.get(key)
                if queued is not None:  # our own changes not yet flushed stay in our view
                    value = _apply(queued[0], value)
                self._entries[key] = (now, value)
                out[key] = value
        return out

    def remember(self, key: str, value: bytes | None) -> None:
        """This instance just wrote `value` (or is writing it): read it back from here."""
        self._entries[key] = (self._clock(), value)

    def update_later(self, key: str, change: Change, ttl: float | None = None) -> None:
        """Apply `change` to this instance's view now, and to the live value at the next `flush`."""
        changes, _ttl = self._pending.setdefault(key, ([], ttl))
        changes.append(change)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], _apply([change], entry[1]))

    async def flush(self) -> None:
        """Write the changes queued by `update_later`, each key's in order, in one CAS loop per key. A flush
        waits for one in flight, so a reader that flushes first (metrics, tests) sees every change queued
        before, also those the background flush was writing."""
        async with self._flushing:
            pending, self._pending = self._pending, {}
            for key, (changes, ttl) in pending.items():
                self._entries.pop(key, None)  # the loop below starts from the live value
                await self.update(key, _combined(changes), ttl=ttl)

    async def update(
        self, key: str, change: Callable[[bytes | None], bytes | None], ttl: float | None = None
    ) -> bytes | None:
        """Apply `change` to the live value atomically; returns what is stored afterwards.

        `change` returns None to leave the value as it is. The first attempt starts from the cached value
        (usually current, saving a read); a lost race re-reads the store. After `cas_attempts` lost races
        the update is dropped and logged: these are statistics, and a stuck loop would be worse.
        """
        entry = self._entries.get(key)
        fresh = entry is None
        current = await self.store.get(key) if entry is None else entry[1]
        for _ in range(self._cas_attempts):
            new = change(current)
            if new is None or new == current:
                if fresh:
                    self._entries[key] = (self._clock(), current)
                return current
            if await self.store.compare_and_set(key, current, new, ttl=ttl):
                self._entries[key] = (self._clock(), new)
                return new
            current = await self.store.get(key)
            fresh = True
        log.warning("gave up updating %s after %d concurrent writes", key, self._cas_attempts)
        self._entries.pop(key, None)
        return current

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop cached entries whose key fails `keep` (e.g. accounts no longer configured)."""
        for key in [k for k in self._entries if not keep(k)]:
            del self._entries[key]


def _apply(changes: list[Change], raw: bytes | None) -> bytes | None:
    """`raw` after `changes` in order (a change answering None leaves the value as it is)."""
    value = raw
    for change in changes:
        new = change(value)
        if new is not None:
            value = new
    return value


def _combined(changes: list[Change]) -> Change:
    """One change doing `changes` in order; None (nothing to write) when they change nothing."""

    def change(raw: bytes | None) -> bytes | None:
        new = _apply(changes, raw)
        return None if new == raw else new

    return change
