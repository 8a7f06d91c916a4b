"""Per-class counters of one instance, for `snapshot()`: admissions, rejections and recent wait times."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass(slots=True)
class ClassStats:
    admitted: int = 0
    queue_full: int = 0
    timed_out: int = 0
    leases_lost: int = 0
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def rejected(self) -> int:
        return self.queue_full + self.timed_out

    def as_dict(self) -> dict[str, float | int]:
        waits = list(self.waits)
        return {
            "admitted": self.admitted,
            "rejected": self.rejected,
            "queue_full": self.queue_full,
            "timed_out": self.timed_out,
            "leases_lost": self.leases_lost,
            "wait_p50_ms": round(percentile(waits, 0.50) * 1000, 2),
            "wait_p95_ms": round(percentile(waits, 0.95) * 1000, 2),
        }
