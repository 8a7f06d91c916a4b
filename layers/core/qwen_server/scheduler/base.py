"""What the gateway asks of a scheduler."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

RequestClass = Literal["chat", "media", "aux"]


class Scheduler(Protocol):
    def admit(self, cls: RequestClass, tenant: str) -> AbstractAsyncContextManager[None]:
        """Wait for a slot of `cls`; raises `Overloaded` (with `retry_after`) when the queue is full or the
        wait times out. The slot is held until the context exits."""
        ...

    async def snapshot(self) -> dict[str, dict[str, Any]]: ...
