"""Retry budget: retries may add at most `ratio` (20 %) to the requests of a sliding window, or `minimum`.

Why a budget rather than a fixed retry count: when the whole upstream is failing, per-request retries multiply
the load exactly when it hurts (a retry storm). Capping retries at a fraction of recent traffic keeps failover
for isolated failures and turns it off during an outage; the minimum keeps a quiet gateway able to fail over.

Counts are kept per time bucket so they can live in the shared store as plain counters (`incr` on
`pool:budget:{kind}:{bucket}`); the window is the current bucket and the `window / bucket - 1` before it.
`WindowCounts` is the same arithmetic in memory, for one process (the pool simulation in `bench/`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryBudget:
    ratio: float = 0.2
    minimum: int = 3
    window: float = 10.0  # seconds
    bucket: float = 1.0  # seconds per counter

    def bucket_of(self, now: float) -> int:
        return math.floor(now / self.bucket)

    def window_buckets(self, now: float) -> list[int]:
        """The buckets whose counts make up the window ending at `now`, oldest first."""
        current = self.bucket_of(now)
        span = max(1, round(self.window / self.bucket))
        return list(range(current - span + 1, current + 1))

    def allows(self, requests: float, retries: float) -> bool:
        """True when one more retry stays within max(minimum, ratio x requests)."""
        return retries < max(float(self.minimum), self.ratio * requests)


@dataclass(slots=True)
class WindowCounts:
    """In-memory per-bucket counts of requests and retries for one `RetryBudget`."""

    budget: RetryBudget = field(default_factory=RetryBudget)
    requests: dict[int, int] = field(default_factory=dict)
    retries: dict[int, int] = field(default_factory=dict)

    def _prune(self, now: float) -> list[int]:
        buckets = self.budget.window_buckets(now)
        oldest = buckets[0]
        for counts in (self.requests, self.retries):
            for b in [b for b in counts if b < oldest]:
                del counts[b]
        return buckets

    def note_request(self, now: float) -> None:
        self._prune(now)
        b = self.budget.bucket_of(now)
        self.requests[b] = self.requests.get(b, 0) + 1

    def try_retry(self, now: float) -> bool:
        """Take one retry from the budget if it allows one."""
        buckets = self._prune(now)
        requests = sum(self.requests.get(b, 0) for b in buckets)
        retries = sum(self.retries.get(b, 0) for b in buckets)
        if not self.budget.allows(requests, retries):
            return False
        b = self.budget.bucket_of(now)
        self.retries[b] = self.retries.get(b, 0) + 1
        return True
