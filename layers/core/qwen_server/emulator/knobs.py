"""Latency and failure knobs: one record per account, global defaults plus per-account overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

RATE_FIELDS = frozenset({"fail_500", "fail_429", "fail_401", "drop", "hang", "waf", "in_stream", "garbage"})
SECONDS_FIELDS = frozenset({"first_token_latency", "token_latency", "retry_after"})
KNOB_FIELDS = RATE_FIELDS | SECONDS_FIELDS


@dataclass(frozen=True, slots=True)
class Knobs:
    """How slow and how unreliable one account is. Rates are probabilities per completion."""

    first_token_latency: float = 0.0
    token_latency: float = 0.0
    fail_500: float = 0.0
    fail_429: float = 0.0
    fail_401: float = 0.0
    drop: float = 0.0
    hang: float = 0.0
    waf: float = 0.0  # an anti-bot challenge page instead of the stream
    in_stream: float = 0.0  # an error event after a few answer pieces
    garbage: float = 0.0  # a stream of lines that are not JSON, which never finishes its answer
    retry_after: float = 30.0

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def parse_knob_fields(raw: Mapping[str, object]) -> dict[str, float]:
    """Validate a partial knob mapping (from the CLI or the control API); raise ValueError when wrong."""
    fields: dict[str, float] = {}
    for name, value in raw.items():
        if name not in KNOB_FIELDS:
            raise ValueError(f"unknown knob {name!r} (known: {', '.join(sorted(KNOB_FIELDS))})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"knob {name!r} must be a number, got {value!r}")
        number = float(value)
        if number < 0 or (name in RATE_FIELDS and number > 1):
            raise ValueError(f"knob {name!r} out of range: {number}")
        fields[name] = number
    return fields


class KnobBook:
    """Global knobs plus per-account overrides; effective knobs are cached until something changes."""

    def __init__(self, base: Knobs, overrides: Mapping[int, Mapping[str, float]] | None = None) -> None:
        self._initial = (base, {i: dict(o) for i, o in (overrides or {}).items()})
        self._base = base
        self._overrides: dict[int, dict[str, float]] = {i: dict(o) for i, o in (overrides or {}).items()}
        self._cache: dict[int, Knobs] = {}

    def for_account(self, index: int) -> Knobs:
        knobs = self._cache.get(index)
        if knobs is None:
            knobs = dataclasses.replace(self._base, **self._overrides.get(index, {}))
            self._cache[index] = knobs
        return knobs

    def update(self, index: int | None, fields: Mapping[str, float]) -> None:
        """Change the global knobs (index None) or one account's overrides, live."""
        if index is None:
            self._base = dataclasses.replace(self._base, **fields)
        else:
            self._overrides.setdefault(index, {}).update(fields)
        self._cache.clear()

    def restore(self) -> None:
        """Back to the knobs the emulator was started with."""
        base, overrides = self._initial
        self._base = base
        self._overrides = {i: dict(o) for i, o in overrides.items()}
        self._cache.clear()

    @property
    def base(self) -> Knobs:
        return self._base
