"""What the gateway currently thinks of each account, from the shared store: the pool's state and reason (so a
WAF cooldown the gateway met shows beside the doctor's own findings) and the client version it learned from the
web app's page for the account's origin (so the doctor sends what the gateway sends)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from qwen_server.core.errors import StoreUnavailable
from qwen_server.pool import health
from qwen_server.pool.state import decode_health, health_key
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web.client_version import Learned, version_key
from qwen_server.store.base import StoreError

log = logging.getLogger("qwen_server.doctor")


Views = tuple[dict[str, dict[str, str]], dict[str, Learned]]


def pool_states(store_url: str, accounts: list[Account]) -> Views:
    """(account id -> {"state", "reason"}, origin key -> learned client version); empty when the store cannot
    be read (the doctor runs anyway)."""
    if store_url.startswith("memory:"):
        return {}, {}  # a memory store lives in the gateway's process: nothing to read from here
    if store_url.startswith("sqlite:") and not Path(store_url.split("://", 1)[-1]).exists():
        return {}, {}  # no gateway has run here: do not create its database
    return asyncio.run(_read(store_url, accounts))


async def _read(store_url: str, accounts: list[Account]) -> Views:
    from qwen_server.store import open_store

    try:
        store = open_store(store_url)
    except StoreError as exc:
        log.info("pool state not shown: %s", exc)
        return {}, {}
    origins = sorted({version_key(a.base_url) for a in accounts})
    try:
        raws = await store.get_many([health_key(a.id) for a in accounts])
        learned_raws = await store.get_many(origins)
    except (StoreError, StoreUnavailable) as exc:
        log.info("pool state not shown: %s", exc)
        return {}, {}
    finally:
        await store.close()
    now = time.time()
    views: dict[str, dict[str, str]] = {}
    for account, raw in zip(accounts, raws, strict=True):
        status = health.status(decode_health(raw), now)
        views[account.id] = {"state": status.state, "reason": status.reason}
    learned = {key: found for key, raw in zip(origins, learned_raws, strict=True) if (found := Learned.decode(raw))}
    return views, learned
