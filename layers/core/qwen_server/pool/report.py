"""The pool as an operator sees it (`/v1/metrics`, `/admin/accounts`, the doctor): per account its state and
reason, the posterior mean with a 90 % interval, counts, slots in flight and the median recent TTFT."""

from __future__ import annotations

import hashlib

from qwen_server.pool import bandit, beta, health
from qwen_server.pool.bandit import ArmState, BanditConfig
from qwen_server.pool.state import ARM_PREFIX, arm_owner, decode_arm, decode_health, health_key, slots_key
from qwen_server.providers.base import Account
from qwen_server.store.base import Store


async def snapshot(store: Store, accounts: list[Account], now: float, cfg: BanditConfig) -> list[dict[str, object]]:
    """One row per account, read from the store (so it shows what every instance learned)."""
    raw_health = await store.get_many([health_key(a.id) for a in accounts])
    arms_by_account: dict[str, dict[str, ArmState]] = {}
    for raw in (await store.scan(ARM_PREFIX)).values():
        owner, model = arm_owner(raw)
        arm = decode_arm(raw)
        if arm is not None:
            arms_by_account.setdefault(owner, {})[model] = arm
    out: list[dict[str, object]] = []
    for account, health_raw in zip(accounts, raw_health, strict=True):
        h = decode_health(health_raw)
        st = health.status(h, now)
        arms = arms_by_account.get(account.id, {})
        out.append(
            {
                **account.public(),
                "state": st.state,
                "reason": st.reason or None,
                "cooldown_until": st.until,
                "disabled_until": h.disabled_until if h is not None and health.is_disabled(h, now) else None,
                "in_flight": await store.lease_count(slots_key(account.id)),
                "max_concurrent": account.max_concurrent,
                **summary(list(arms.values()), now, cfg),
                "models": {m: summary([a], now, cfg) for m, a in sorted(arms.items())},
            }
        )
    return out


def summary(arms: list[ArmState], now: float, cfg: BanditConfig) -> dict[str, object]:
    """Posterior of the arms pooled (discounted counts summed), totals and the median recent TTFT."""
    s = sum(bandit.decayed(a, now, cfg).s for a in arms)
    f = sum(bandit.decayed(a, now, cfg).f for a in arms)
    alpha, beta_ = cfg.prior_alpha + s, cfg.prior_beta + f
    low, high = beta.interval(alpha, beta_, 0.9)
    ttfts = sorted(t for a in arms for t in a.recent_ttft)
    return {
        "posterior_mean": round(bandit.posterior_mean(alpha, beta_), 4),
        "interval_90": [round(low, 4), round(high, 4)],
        "successes": sum(a.successes for a in arms),
        "failures": sum(a.failures for a in arms),
        "p50_ttft": ttfts[len(ttfts) // 2] if ttfts else None,
    }


def without_names(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The snapshot for a caller who is not the operator: an account's name and id (often an e-mail's local
    part) become an opaque label, stable across calls, so states and counts still line up."""
    out = []
    for row in rows:
        label = "account-" + hashlib.sha256(str(row["id"]).encode()).hexdigest()[:10]
        out.append({**row, "id": label, "name": label})
    return out
