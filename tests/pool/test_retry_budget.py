"""Retry budget: retries in flight at most max(3, 20 % of the requests in flight)."""

from __future__ import annotations

from qwen_server.pool.retry_budget import RetryBudget, RetryGate


def test_minimum_applies_to_a_quiet_gateway() -> None:
    budget = RetryBudget()
    assert budget.allows(0, 2)
    assert not budget.allows(0, 3)
    assert not budget.allows(1, 3)


def test_ratio_applies_to_a_busy_gateway() -> None:
    budget = RetryBudget(ratio=0.2, minimum=3)
    assert budget.allows(100, 19)
    assert not budget.allows(100, 20)


def test_a_serial_client_always_gets_its_retry() -> None:
    gate = RetryGate()
    for _ in range(120):  # one request at a time, each failing over three times in a row
        gate.begin()
        for _ in range(3):
            assert gate.try_retry()
            gate.retry_done()
        gate.end()
    assert (gate.active, gate.retrying) == (0, 0)


def test_retries_in_flight_are_capped_by_the_requests_in_flight() -> None:
    gate = RetryGate(RetryBudget(ratio=0.2, minimum=3))
    for _ in range(50):
        gate.begin()
    granted = sum(gate.try_retry() for _ in range(30))
    assert granted == 10  # 20 % of 50
    gate.retry_done()  # one retry settles: one more may start
    assert gate.try_retry()
    assert not gate.try_retry()


def test_counts_never_go_negative() -> None:
    gate = RetryGate()
    gate.end()
    gate.retry_done()
    assert (gate.active, gate.retrying) == (0, 0)
    assert sum(gate.try_retry() for _ in range(5)) == 3
