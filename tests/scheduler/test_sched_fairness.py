"""The pure decisions: who gets free slots, how long to wait between polls, wait percentiles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qwen_server.scheduler.backoff import Backoff
from qwen_server.scheduler.fairness import clean_instance, grant, instance_of, make_id, tenant_of
from qwen_server.scheduler.stats import ClassStats, percentile


def ids(spec: str) -> list[str]:
    """'a a b' -> ['i-1.a', 'i-2.a', 'i-3.b']: tickets in FIFO order, one per tenant letter."""
    return [make_id("i", n, t) for n, t in enumerate(spec.split(), 1)]


def tenants(chosen: list[str]) -> list[str]:
    return [tenant_of(t) for t in chosen]


def test_ids_carry_tenant_and_instance_even_with_dots() -> None:
    ident = make_id(clean_instance("host.example-7"), 42, "team.alpha")
    assert tenant_of(ident) == "team.alpha"
    assert instance_of(ident) == "host_example-7"
    assert tenant_of("no-tenant") == ""


def test_one_tenant_is_plain_fifo() -> None:
    head = ids("a a a a")
    assert grant(head, ids("a"), limit=3) == head[:2]


def test_nothing_free_or_nobody_waiting_grants_nothing() -> None:
    assert grant(ids("a b"), ids("a b c"), limit=3) == []
    assert grant(ids("a b"), ids("a b c d"), limit=3) == []  # over the cap after a limit cut
    assert grant([], [], limit=3) == []


def test_tenant_at_its_share_waits_while_others_are_queued() -> None:
    holders = ids("a a a a a a a a")  # a holds 8 of 10
    head = ids("a a b")
    assert tenants(grant(head, holders, limit=10)) == ["b", "a"]  # b first; the leftover slot is not idle
    assert tenants(grant(head, holders + ids("x"), limit=10)) == ["b"]


def test_share_counts_slots_granted_in_the_same_round() -> None:
    # 4 free, a and b active -> share 2 each: a's third ticket waits behind b's tickets
    head = ids("a a a b b")
    assert tenants(grant(head, [], limit=4)) == ["a", "a", "b", "b"]


def test_work_conserving_when_everyone_is_at_share() -> None:
    holders = ids("a a b b")
    head = ids("a b a")
    assert tenants(grant(head, holders, limit=6)) == ["a", "b"]  # share 3: both under it, FIFO


def test_all_waiters_over_share_are_served_fifo() -> None:
    holders = ids("a a a b b b")
    head = ids("b a")
    assert tenants(grant(head, holders, limit=7)) == ["b"]


@given(
    holders=st.lists(st.sampled_from("abcd"), max_size=12),
    queued=st.lists(st.sampled_from("abcd"), max_size=20),
    limit=st.integers(1, 12),
)
def test_grant_properties(holders: list[str], queued: list[str], limit: int) -> None:
    head = ids(" ".join(queued)) if queued else []
    held = ids(" ".join(holders)) if holders else []
    chosen = grant(head, held, limit)
    free = max(0, limit - len(held))
    assert len(chosen) == min(free, len(head))  # never over the cap, never idle while someone waits
    assert len(set(chosen)) == len(chosen) and set(chosen) <= set(head)
    for tenant in set(queued):  # within one tenant, tickets are served in FIFO order
        mine = [t for t in head if tenant_of(t) == tenant]
        got = [t for t in chosen if tenant_of(t) == tenant]
        assert got == mine[: len(got)]


def test_backoff_adapts() -> None:
    b = Backoff(low=0.005, high=0.1)
    delays = [b.next(progressed=False, changed=False) for _ in range(6)]
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.1, 0.1]
    assert b.next(progressed=False, changed=True) == 0.05
    assert b.next(progressed=True, changed=False) == 0.005
    b.next(progressed=False, changed=False)
    assert b.reset() == 0.005


def test_percentiles_and_stats() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(100)], 0.95) == 95.0
    stats = ClassStats(admitted=3, queue_full=1, timed_out=2)
    stats.waits.extend([0.001, 0.002, 0.010])
    out = stats.as_dict()
    assert out["rejected"] == 3
    assert out["wait_p50_ms"] == 2.0
    assert out["wait_p95_ms"] == 10.0
