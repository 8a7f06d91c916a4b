"""What the batch worker, the finalizer and batch lines work with, handed in by whoever composed the runtime:
the gateway (pool, scheduler, models) lines run through, the HTTP clients embeddings lines call with, the files
(state store and blob store) chunks and results live in, the tenants' budget lines are charged to, and the
worker's settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from qwen_server.files.service import Files
    from qwen_server.gateway import Gateway
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.store.base import Store


class LineBudget(Protocol):
    """What a tenant's batch lines are charged to: its rate limits and its usage rows."""

    async def admit(self, tenant: str) -> bool:
        """Count one line as one of the tenant's requests if its window has room; False (nothing counted)
        while it has none: the tenant's lines wait for the window to turn, other tenants' go on."""
        ...

    def spent(self, tenant: str, input_tokens: int, output_tokens: int) -> None:
        """A line's answer used these tokens."""
        ...

    async def settle(self) -> None:
        """Write what was counted in the background (a scheduled tick ends, and its process may freeze)."""
        ...


class Unmetered:
    """No limits and no usage rows (tests that build the worker's services by hand)."""

    async def admit(self, tenant: str) -> bool:
        return True

    def spent(self, tenant: str, input_tokens: int, output_tokens: int) -> None:
        return None

    async def settle(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class BatchServices:
    gateway: Gateway
    clients: ClientRegistry
    files: Files
    lease_seconds: float  # BATCH_LEASE_SECONDS: a chunk's lease, renewed while its lines run
    line_concurrency: int  # SCHED_BATCH_CONCURRENT: lines of one chunk run at once
    tick_seconds: float  # BATCH_TICK_SECONDS: one scheduled pass's budget
    budget: LineBudget = field(default_factory=Unmetered)  # RATE_LIMIT_* and /admin/usage

    @property
    def store(self) -> Store:
        return self.files.store


BatchSource = Callable[[], Awaitable[BatchServices]]
"""How a worker loop gets its services on each pass (built on first use; a configuration error is retried)."""
