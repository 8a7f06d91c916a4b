"""One spelling of counters across backends, so `get` after `incr` returns the same bytes everywhere."""

from __future__ import annotations

import math


def encode_number(value: float) -> bytes:
    """Integral values as plain digits (b"3"), others by their shortest round-trip repr (b"2.5").

    Redis's INCRBYFLOAT writes numbers this way; the other backends copy it."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**63:
        return str(int(value)).encode()
    return repr(value).encode()


def decode_number(raw: bytes | str) -> float:
    """Parse a stored counter; raises ValueError for a value that is not a number."""
    return float(raw)
