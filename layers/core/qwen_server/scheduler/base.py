"""What the gateway asks of a scheduler."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

RequestClass = Literal["chat", "media", "aux"]


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """Per request class: global concurrent slots, waiting tickets, and the longest wait (seconds)."""

    concurrent: int
    queue: int
    timeout: float


class Scheduler(Protocol):
    def admit(self, cls: RequestClass, tenant: str) -> AbstractAsyncContextManager[None]:
        """Wait for a slot of `cls`; raises `Overloaded` (with `retry_after`) when the queue is full or the
        wait times out. The slot is held until the context exits."""
        ...

    async def snapshot(self) -> dict[str, dict[str, Any]]: ...
