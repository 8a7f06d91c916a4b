"""The `version` header each upstream origin accepts, learned from the web app when it refuses ours.

Precedence, per origin: an operator's `QWEN_PROTOCOL_OVERRIDES` that sets `headers.version` always wins; else
a version the gateway learned from the web app's own page (`version_discovery`), kept in the shared store so
every instance sends it; else `protocol.json`'s. After a refusal, `relearn` reads the store first (another
instance or request may have learned a newer version already), else reads the web app's page once per origin at a
time, and stores what it names. Each instance reads an origin's entry through a local copy at most `max_age`
seconds old; a discovery that found nothing new stands `rediscover_after` seconds, so a stuck upstream costs one
page read a minute, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from qwen_server.providers.qwen_web import protocol
from qwen_server.providers.qwen_web.outdated import Finding
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server")
LEARNED = "learned from the web app's page"


def version_key(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"qwen:client-version:{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class Learned:
    """A version read from the web app: what it replaced, where the page named it, when (epoch seconds)."""

    version: str
    refused: str | None
    where: str
    at: float

    def encode(self) -> bytes:
        return orjson.dumps({"version": self.version, "refused": self.refused, "where": self.where, "at": self.at})

    @staticmethod
    def decode(raw: bytes | None) -> Learned | None:
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            return None
        refused = data.get("refused")
        return Learned(
            data["version"], refused if isinstance(refused, str) else None, str(data.get("where") or ""),
            float(data.get("at") or 0.0),
        )


@dataclass(frozen=True, slots=True)
class Relearned:
    """What a refusal led to: a version to retry with (None: nothing new), and what the page said."""

    retry_with: str | None
    finding: Finding | None


Discover = Callable[[], Awaitable[Finding]]


def choose(learned: Learned | None) -> tuple[str | None, str]:
    """(the version to send, where it comes from): an operator's override, else the learned one, else the data
    file's."""
    spec = protocol.current()
    if spec.version_pinned or learned is None:
        return spec.version, spec.version_source
    return learned.version, LEARNED


class ClientVersions:
    """Per origin: the version to send, and learning a newer one after a refusal (see the module doc)."""

    def __init__(
        self,
        store: Store,
        *,
        max_age: float = 30.0,
        rediscover_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._max_age = max_age
        self._rediscover_after = rediscover_after
        self._clock = clock
        self._wall = wall
        self._local: dict[str, tuple[Learned | None, float]] = {}
        self._recent: dict[str, tuple[Finding, float]] = {}  # the last discovery per origin, and when
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self, base_url: str) -> None:
        """Bring this instance's copy of the origin's learned version up to date (a store read when stale)."""
        key = version_key(base_url)
        cached = self._local.get(key)
        if cached is None or self._clock() - cached[1] > self._max_age:
            await self._read(key)

    async def _read(self, key: str) -> Learned | None:
        learned = Learned.decode(await self._store.get(key))
        self._local[key] = (learned, self._clock())
        return learned

    def learned(self, base_url: str) -> Learned | None:
        """The learned version as this instance last read it (no I/O)."""
        cached = self._local.get(version_key(base_url))
        return cached[0] if cached else None

    def sending(self, base_url: str) -> tuple[str | None, str]:
        """(the `version` header to send to this origin, where it comes from)."""
        return choose(self.learned(base_url))

    async def relearn(self, base_url: str, refused: str | None, discover: Discover) -> Relearned:
        """After the upstream refused `refused`: a newer version to retry with, or what the page said."""
        key = version_key(base_url)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            pinned = protocol.current().version_pinned
            stored = await self._read(key)
            if stored is not None and stored.version != refused and not pinned:
                return Relearned(stored.version, Finding(stored.version, stored.where))
            recent = self._recent.get(key)
            if recent is not None and self._clock() - recent[1] < self._rediscover_after:
                finding = recent[0]  # nothing new a moment ago: do not read the page on every request
            else:
                finding = await discover()
                log.warning(
                    "the web app refused client version %s as too old; its page names %s",
                    refused,
                    finding.version or f"nothing ({finding.reason})",
                )
            if finding.version is None or finding.version == refused:
                self._recent[key] = (finding, self._clock())
                return Relearned(None, finding)
            self._recent.pop(key, None)
            learned = Learned(finding.version, refused, finding.where, self._wall())
            ttl = float((protocol.current().discovery or {}).get("ttl_seconds") or 30 * 86400)
            await self._store.set(key, learned.encode(), ttl=ttl)
            self._local[key] = (learned, self._clock())
            return Relearned(None if pinned else finding.version, finding)
