"""Replies queued through the control API, consumed first-in first-out by the next completions."""

from __future__ import annotations

from collections import deque

from qwen_server.emulator.directives import Script


class ScriptQueues:
    """One queue per account plus a shared one; an account's own queue is served first."""

    def __init__(self, accounts: int) -> None:
        self._own: list[deque[Script]] = [deque() for _ in range(accounts)]
        self._shared: deque[Script] = deque()

    def push(self, index: int | None, scripts: list[Script]) -> int:
        queue = self._shared if index is None else self._own[index]
        queue.extend(scripts)
        return len(queue)

    def pop(self, index: int) -> Script | None:
        if self._own[index]:
            return self._own[index].popleft()
        if self._shared:
            return self._shared.popleft()
        return None

    def clear(self) -> None:
        for queue in self._own:
            queue.clear()
        self._shared.clear()

    def pending(self) -> int:
        return len(self._shared) + sum(len(q) for q in self._own)
