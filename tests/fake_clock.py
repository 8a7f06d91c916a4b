"""A clock that moves only when a test moves it: stores, leases, windows and timers read it instead of the
wall clock, so a test of expiry says how much time passes and does not depend on how fast the machine is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeClock:
    now: float = 1_000_000.0  # seconds since the epoch, like `time.time()`

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
