"""The scheduled worker entry on Lambda: one pass of the batch worker within BATCH_TICK_SECONDS, then a sweep
of expired blobs (nothing to do on S3, whose lifecycle rules reclaim them)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchSource


def run_tick(services: BatchSource) -> dict[str, Any]:
    """One bounded pass, on the loop Mangum runs HTTP invocations on (`services` come from the function's
    runtime, whose clients and locks are bound to that loop)."""

    async def once() -> dict[str, int]:
        from qwen_server.batches.worker import sweep_blobs, tick

        work = await services()
        done = await tick(work, seconds=work.tick_seconds)
        await sweep_blobs(work)
        return done

    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return {"batches_tick": loop.run_until_complete(once())}
