"""The usage ledger's day, formatted once per day: the same date as formatting each timestamp."""

from __future__ import annotations

from datetime import UTC, datetime

from qwen_server.observability.usage import _day


def test_the_day_turns_at_midnight_utc_as_the_timestamp_says() -> None:
    for now in (0.0, 86399.999, 86400.0, 1_765_151_999.5, 1_765_152_000.0, 1_765_190_000.25):
        assert _day(now) == datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
