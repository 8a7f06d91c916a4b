"""Identifiers for requests, responses and calls: random, unique, and cheap.

`uuid.uuid4()` reads the kernel's random source on every call, a system call on each request's hot path
(several per request). These ids need to be unpredictable enough not to collide or be guessed across
processes, not cryptographic: one generator per process, seeded from the kernel once, gives that. After a
fork (several workers) each child reseeds on its first id.
"""

from __future__ import annotations

import os
import random

_rng = random.Random(os.urandom(32))
_pid = os.getpid()


def hex_id(length: int = 32) -> str:
    """`length` random hex digits."""
    global _rng, _pid
    if os.getpid() != _pid:  # a forked worker must not repeat its parent's sequence
        _rng, _pid = random.Random(os.urandom(32)), os.getpid()
    return f"{_rng.getrandbits(length * 4):0{length}x}"


_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base62_id(length: int = 24) -> str:
    """`length` random base-62 characters (the alphabet of OpenAI's and Anthropic's file and batch ids)."""
    n = int(hex_id(2 * length), 16)  # 8 random bits a character: more than a base-62 digit uses
    digits = []
    for _ in range(length):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(digits)
