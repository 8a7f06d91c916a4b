"""The scheduled worker entry on Lambda: one pass of the batch worker within BATCH_TICK_SECONDS."""

from __future__ import annotations

import asyncio
from typing import Any


def run_tick() -> dict[str, Any]:
    async def once() -> dict[str, int]:
        from qwen_server.app.runtime import get_runtime
        from qwen_server.batches.worker import tick

        runtime = await get_runtime()
        return await tick(runtime, seconds=runtime.settings.batch_tick_seconds)

    # the loop Mangum runs HTTP invocations on: the runtime's clients and locks are bound to it
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return {"batches_tick": loop.run_until_complete(once())}
