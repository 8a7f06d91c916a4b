"""Per-capability quotas: an account whose daily image (or video) limit is spent sits out that capability
until the upstream says it resets, while its chat goes on (the pool's health is not touched).

    media:quota:{capability}:{account}   the time (unix seconds) the account may try again, with a TTL
"""

from __future__ import annotations

from qwen_server.store.base import Store

DEFAULT_SECONDS = 60.0  # a rate limit that names no reset time
MAX_SECONDS = 86400.0


def quota_key(capability: str, account_id: str) -> str:
    return f"media:quota:{capability}:{account_id}"


async def spent(store: Store, capability: str, account_ids: list[str], now: float) -> dict[str, float]:
    """The accounts (of `account_ids`) whose `capability` quota is spent, with when each resets."""
    values = await store.get_many([quota_key(capability, aid) for aid in account_ids])
    out: dict[str, float] = {}
    for aid, raw in zip(account_ids, values, strict=True):
        if raw is not None and float(raw) > now:
            out[aid] = float(raw)
    return out


async def spend(store: Store, capability: str, account_id: str, seconds: float | None, now: float) -> float:
    """Mark the account's `capability` quota spent for `seconds` (the upstream's word, capped); the reset time."""
    wait = min(MAX_SECONDS, seconds if seconds and seconds > 0 else DEFAULT_SECONDS)
    until = now + wait
    await store.set(quota_key(capability, account_id), repr(until).encode(), ttl=wait)
    return until
