"""The per-address sign-in rate wall: too many sign-ins within a window get the WAF challenge."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SigninWall:
    """Admit at most `limit` sign-ins per client address within `window` seconds.

    Only admitted sign-ins are remembered, so a client that backs off for `window` seconds gets through.
    """

    def __init__(self, limit: int, window: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def admit(self, client: str) -> bool:
        now = self._clock()
        recent = self._recent.setdefault(client, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) >= self._limit:
            return False
        recent.append(now)
        return True

    def clear(self) -> None:
        self._recent.clear()
