"""The last upstream errors the pool saw, with a diagnosis and the doctor's advice, for `GET /admin/errors`.

Every failed attempt the pool records (and every refused credential check) is noted here; the notes go to a
ring of `SLOTS` store keys, so the list is shared by every instance, bounded whatever the error rate, and
read with one scan. A note is written behind, off the request's path: the first at once, then at most one
batch a second (a storm of WAF pages costs one write round a second, not one per request).

What a note holds is shown to operators only, and holds nothing secret: the account's id and name, the
error's class, status, code and message (cleaned of credentials, hosts and paths where it was made:
`core.errors.UpstreamError`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from qwen_server.core.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamBlocked,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnknownError,
)
from qwen_server.doctor.hints import hint
from qwen_server.providers.base import Account
from qwen_server.store import Store

SLOTS = 50
KEEP_SECONDS = 86400.0
PAUSE_SECONDS = 1.0
SEQUENCE = "upstream-errors:seq"
SLOT_PREFIX = "upstream-errors:slot:"
log = logging.getLogger("qwen_server")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: str  # waf | rate_limit | credential | forbidden | model | timeout | bad_request | server | unexpected
    label: str  # what the operator reads
    hint_key: str  # the doctor's advice for it (`doctor.hints`)


# Most specific class first: the first match names the diagnosis.
DIAGNOSES: tuple[tuple[type[UpstreamError], Diagnosis], ...] = (
    (UpstreamBlocked, Diagnosis("waf", "WAF / anti-bot challenge", "waf_page")),
    (UpstreamRateLimited, Diagnosis("rate_limit", "rate limit or quota", "rate_limited")),
    (UpstreamAuthError, Diagnosis("credential", "credential refused", "unauthorized")),
    (UpstreamForbidden, Diagnosis("forbidden", "refused for this model or request (401/403)", "unauthorized")),
    (UpstreamModelNotFound, Diagnosis("model", "model not served by this account", "model")),
    (UpstreamTimeout, Diagnosis("timeout", "upstream timed out", "timeout")),
    (UpstreamBadRequest, Diagnosis("bad_request", "upstream refused the request", "bad_request")),
    (UpstreamUnknownError, Diagnosis("unexpected", "unrecognised upstream error", "unexpected")),
    (UpstreamError, Diagnosis("server", "upstream server error", "server")),
)


def diagnose(error: UpstreamError) -> Diagnosis:
    return next(d for cls, d in DIAGNOSES if isinstance(error, cls))


def describe(account: Account, error: UpstreamError, at: float) -> dict[str, object]:
    """One note, as `/admin/errors` shows it."""
    found = diagnose(error)
    return {
        "at": round(at, 3),
        "account_id": account.id,
        "account": account.name,
        "kind": account.kind,
        "status": error.status,
        "code": error.code,
        "message": error.message[:300],
        "diagnosis": found.kind,
        "label": found.label,
        "hint": hint(found.hint_key),
        "doctor": f"qwen-server doctor --account {account.name}",
    }


class UpstreamErrorLog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._pending: deque[dict[str, object]] = deque(maxlen=SLOTS)  # more than a ring holds is lost anyway
        self._writer: asyncio.Task[None] | None = None

    def note(self, account: Account, error: GatewayError) -> None:
        """A failed attempt on `account` (the pool's failure listener); errors not from an upstream are not
        the upstream's (a client that left, a bug of ours) and are left out."""
        if not isinstance(error, UpstreamError):
            return
        self._pending.append(describe(account, error, self._clock()))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_behind())

    async def _write_behind(self) -> None:
        while self._pending:
            await self.flush()
            await asyncio.sleep(PAUSE_SECONDS)

    async def flush(self) -> None:
        """Write the pending notes to the ring (one counter bump for the batch, one write per note)."""
        notes = list(self._pending)
        self._pending.clear()
        if not notes:
            return
        try:
            last = int(await self.store.incr(SEQUENCE, len(notes), ttl=KEEP_SECONDS))
            for seq, entry in enumerate(notes, start=last - len(notes) + 1):
                value = orjson.dumps({**entry, "seq": seq})
                await self.store.set(f"{SLOT_PREFIX}{seq % SLOTS}", value, ttl=KEEP_SECONDS)
        except GatewayError as exc:
            log.warning("%d upstream error note(s) not recorded: %s", len(notes), exc.message)

    async def recent(self, limit: int = SLOTS) -> list[dict[str, object]]:
        """The newest notes first, of every instance (this one's pending notes included)."""
        await self.flush()
        notes: list[dict[str, object]] = []
        for raw in (await self.store.scan(SLOT_PREFIX)).values():
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                notes.append(entry)
        notes.sort(key=_seq, reverse=True)
        return notes[:limit]


def _seq(entry: dict[str, object]) -> int:
    seq = entry.get("seq")
    return seq if isinstance(seq, int) else 0
