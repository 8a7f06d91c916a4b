"""Retry budget, as Envoy defines it: retries in flight ≤ max(`minimum`, `ratio` x requests in flight).

Why a budget rather than a fixed retry count: when the whole upstream is failing, per-request retries multiply
the load exactly when it hurts (a retry storm). Capping the retries *in flight* at a fraction of the requests
in flight keeps failover for isolated failures and throttles it during an outage. Why concurrency rather than
a count over a time window: a quiet gateway sending one request at a time never has more than one retry in
flight, so it always fails over, however many of its accounts are failing; a window of counts would run dry
after a few failovers and answer errors while healthy accounts exist.

The counts are per process, as Envoy keeps them per proxy: they change on every request, and each process
protects its upstreams by bounding what it adds itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RETRY_PATIENCE = 5.0  # seconds a failover may wait for room in the budget before its request gives up


@dataclass(frozen=True, slots=True)
class RetryBudget:
    ratio: float = 0.2
    minimum: int = 3

    def allows(self, active: int, retrying: int) -> bool:
        """True when one more retry in flight stays within max(minimum, ratio x active requests)."""
        return retrying < max(float(self.minimum), self.ratio * active)


@dataclass(slots=True)
class RetryGate:
    """Requests and retries in flight in this process, under one `RetryBudget`.

    `begin` / `end` bracket a client request; `try_retry` takes a retry slot when the budget allows and
    `retry_done` gives it back once that retry attempt has settled. Counters never go below zero, so a
    stray `end` cannot open the budget wider than configured."""

    budget: RetryBudget = field(default_factory=RetryBudget)
    active: int = 0
    retrying: int = 0

    def begin(self) -> None:
        self.active += 1

    def end(self) -> None:
        self.active = max(0, self.active - 1)

    def try_retry(self) -> bool:
        if not self.budget.allows(self.active, self.retrying):
            return False
        self.retrying += 1
        return True

    def retry_done(self) -> None:
        self.retrying = max(0, self.retrying - 1)
