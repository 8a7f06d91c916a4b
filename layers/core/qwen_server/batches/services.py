"""What the batch worker, the finalizer and batch lines work with, handed in by whoever composed the runtime:
the gateway (pool, scheduler, models) lines run through, the HTTP clients embeddings lines call with, the files
(state store and blob store) chunks and results live in, and the worker's settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwen_server.files.service import Files
    from qwen_server.gateway import Gateway
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.store.base import Store


@dataclass(frozen=True, slots=True)
class BatchServices:
    gateway: Gateway
    clients: ClientRegistry
    files: Files
    lease_seconds: float  # BATCH_LEASE_SECONDS: a chunk's lease, renewed while its lines run
    line_concurrency: int  # SCHED_BATCH_CONCURRENT: lines of one chunk run at once
    tick_seconds: float  # BATCH_TICK_SECONDS: one scheduled pass's budget

    @property
    def store(self) -> Store:
        return self.files.store


BatchSource = Callable[[], Awaitable[BatchServices]]
"""How a worker loop gets its services on each pass (built on first use; a configuration error is retried)."""
