"""Which injected failure (if any) a completion gets, drawn from the account's knobs."""

from __future__ import annotations

import random

from qwen_server.emulator.knobs import Knobs


def pick_fault(knobs: Knobs, rng: random.Random) -> str | None:
    """One independent draw per non-zero rate, in a fixed order, so a seed replays the same faults."""
    for kind, rate in (
        ("hang", knobs.hang),
        ("401", knobs.fail_401),
        ("429", knobs.fail_429),
        ("500", knobs.fail_500),
        ("drop", knobs.drop),
        ("waf", knobs.waf),
        ("in_stream", knobs.in_stream),
        ("garbage", knobs.garbage),
    ):
        if rate > 0 and rng.random() < rate:
            return kind
    return None
