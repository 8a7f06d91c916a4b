"""In-process request metrics: counts by route and status, latency percentiles by route.

Per-instance by design (each serverless instance reports its own); the shared view of accounts and queues
comes from the pool and scheduler, which read the store.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

WINDOW = 2048


class RequestMetrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.latencies: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=WINDOW))

    def record(self, route: str, status: int, seconds: float) -> None:
        self.counts[route][status] += 1
        self.latencies[route].append(seconds)

    @staticmethod
    def _percentile(ordered: list[float], q: float) -> float:
        if not ordered:
            return 0.0
        return ordered[round(q * (len(ordered) - 1))]

    def snapshot(self) -> dict[str, Any]:
        routes: dict[str, Any] = {}
        for route, by_status in self.counts.items():
            ordered = sorted(self.latencies[route])
            routes[route] = {
                "requests": sum(by_status.values()),
                "by_status": {str(k): v for k, v in sorted(by_status.items())},
                "latency_p50_ms": round(self._percentile(ordered, 0.50) * 1000, 2),
                "latency_p95_ms": round(self._percentile(ordered, 0.95) * 1000, 2),
            }
        return {"uptime_s": round(time.time() - self.started, 1), "routes": routes}
