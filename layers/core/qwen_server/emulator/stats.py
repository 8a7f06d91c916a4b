"""Counters tests and benchmarks read back: concurrency, completions, errors, sign-ins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


class _Counts:
    __slots__ = (
        "completed",
        "completions",
        "errors",
        "in_flight",
        "max_in_flight",
        "signins",
        "tokens_issued",
    )

    def __init__(self, in_flight: int = 0) -> None:
        self.signins = 0
        self.tokens_issued = 0
        self.completions = 0
        self.completed = 0
        self.in_flight = in_flight
        self.max_in_flight = in_flight
        self.errors: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        return {
            "signins": self.signins,
            "tokens_issued": self.tokens_issued,
            "completions": self.completions,
            "completed": self.completed,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "errors": dict(self.errors),
        }


class Stats:
    """Global and per-account counters. Single event loop: plain ints, no locks."""

    def __init__(self, emails: Sequence[str]) -> None:
        self._emails = tuple(emails)
        self._total = _Counts()
        self._accounts = [_Counts() for _ in self._emails]

    def signin(self, index: int) -> None:
        self._accounts[index].signins += 1
        self._accounts[index].tokens_issued += 1
        self._total.signins += 1

    def completion(self, index: int) -> None:
        self._accounts[index].completions += 1
        self._total.completions += 1

    def completed(self, index: int) -> None:
        self._accounts[index].completed += 1
        self._total.completed += 1

    def error(self, kind: str, index: int | None = None) -> None:
        self._total.errors[kind] += 1
        if index is not None:
            self._accounts[index].errors[kind] += 1

    def begin(self, index: int) -> None:
        for counts in (self._total, self._accounts[index]):
            counts.in_flight += 1
            counts.max_in_flight = max(counts.max_in_flight, counts.in_flight)

    def end(self, index: int) -> None:
        self._total.in_flight -= 1
        self._accounts[index].in_flight -= 1

    def reset(self) -> None:
        """Zero the counters; what is in flight now stays in flight (and is the new maximum)."""
        self._total = _Counts(self._total.in_flight)
        self._accounts = [_Counts(c.in_flight) for c in self._accounts]

    def snapshot(self) -> dict[str, Any]:
        body = self._total.snapshot()
        del body["tokens_issued"]
        body["accounts"] = {
            email: c.snapshot() for email, c in zip(self._emails, self._accounts, strict=True)
        }
        return body
