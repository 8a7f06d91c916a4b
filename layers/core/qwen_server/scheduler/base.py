"""What the gateway asks of a scheduler."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from qwen_server.store.base import Lease

RequestClass = Literal["chat", "media", "aux", "batch"]
"""chat: chat and messages; media: images, videos, speech, transcription; aux: embeddings and other short calls;
batch: batch lines, which yield to interactive traffic."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """Per request class: global concurrent slots, waiting tickets, and the longest wait (seconds)."""

    concurrent: int
    queue: int
    timeout: float


@dataclass(frozen=True, slots=True)
class Offer(Generic[T]):
    """A slot named by its lease, and how the claim turns it into its value once the store granted it."""

    lease: Lease
    adopt: Callable[[], T]


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

    async def offer(self) -> Offer[T] | None:
        """What `take` would take first, not yet taken, so the scheduler can take it together with the class
        slot in one store round trip; None when only `take` can tell."""
        ...

    def deferred_release(self, value: T) -> tuple[str, str] | None:
        """A slot of `value` left for the scheduler to free with the class slot (one round trip), if any."""
        ...

    def released(self, value: T) -> None:
        """The scheduler freed the slot `deferred_release` named."""
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
