"""What the gateway asks of a scheduler."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

RequestClass = Literal["chat"]  # media and aux join when endpoints admit into them
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """Per request class: global concurrent slots, waiting tickets, and the longest wait (seconds)."""

    concurrent: int
    queue: int
    timeout: float


class Claim(Protocol[T]):
    """A second, scarcer thing a request needs besides its class slot: an upstream account's slot.

    The scheduler takes it for a waiter when the queue says it is that waiter's turn, so the queue's order
    (FIFO, fair across tenants) decides who gets a busy account, not whoever asks at the right instant.
    `take` returns None when nothing is free right now (the waiter stays queued) and raises a
    `GatewayError` when waiting cannot help (no account serves the model). Waiters with the same `key`
    compete for the same things: once one of them finds nothing free, the others are not asked this round.
    """

    key: str

    async def take(self) -> T | None: ...

    async def give_back(self, value: T) -> None:
        """Undo a `take` whose waiter left (timed out, cancelled) or whose class slot was lost."""
        ...


class Scheduler(Protocol):
    def admit(
        self, cls: RequestClass, tenant: str, claim: Claim[T] | None = None
    ) -> AbstractAsyncContextManager[T | None]:
        """Wait for a slot of `cls` (and, with `claim`, for what it claims, which the context yields);
        raises `Overloaded` (with `retry_after`) when the queue is full or the wait times out. The class
        slot is held until the context exits; what was claimed is the caller's to release."""
        ...

    async def snapshot(self) -> dict[str, dict[str, Any]]: ...
