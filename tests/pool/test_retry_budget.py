"""Retry budget: 20 % of the window's requests, at least 3, sliding."""

from __future__ import annotations

from qwen_server.pool.retry_budget import RetryBudget, WindowCounts


def test_minimum_applies_to_a_quiet_gateway() -> None:
    budget = RetryBudget()
    assert budget.allows(0, 2)
    assert not budget.allows(0, 3)


def test_ratio_applies_to_a_busy_gateway() -> None:
    budget = RetryBudget(ratio=0.2, minimum=3)
    assert budget.allows(100, 19)
    assert not budget.allows(100, 20)


def test_window_buckets_cover_the_window() -> None:
    budget = RetryBudget(window=10.0, bucket=1.0)
    assert budget.window_buckets(125.5) == list(range(116, 126))
    assert RetryBudget(window=10.0, bucket=2.5).window_buckets(10.0) == [1, 2, 3, 4]


def test_counts_grant_a_fifth_of_the_traffic() -> None:
    counts = WindowCounts(RetryBudget(ratio=0.2, minimum=3, window=10.0))
    for i in range(100):
        counts.note_request(i * 0.05)
    granted = sum(counts.try_retry(5.0) for _ in range(50))
    assert granted == 20


def test_old_traffic_slides_out_of_the_window() -> None:
    counts = WindowCounts(RetryBudget(ratio=0.2, minimum=3, window=10.0))
    for _ in range(100):
        counts.note_request(0.0)
    assert sum(counts.try_retry(1.0) for _ in range(30)) == 20
    # ten seconds later the requests and the retries are gone: back to the minimum
    assert sum(counts.try_retry(11.0) for _ in range(30)) == 3
