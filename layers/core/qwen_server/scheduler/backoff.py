"""How long a waiting instance sleeps between two looks at the store: short while things move, longer while
nothing changes, so an idle wait costs few reads and a busy one notices free slots quickly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    low: float = 0.005
    high: float = 0.1
    current: float = 0.005

    def reset(self) -> float:
        self.current = self.low
        return self.current

    def next(self, *, progressed: bool, changed: bool) -> float:
        """Progress (a slot granted here) restarts at `low`; a changed view halves; a still view doubles."""
        if progressed:
            self.current = self.low
        elif changed:
            self.current = max(self.low, self.current / 2)
        else:
            self.current = min(self.high, self.current * 2)
        return self.current
