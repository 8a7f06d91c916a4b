"""The video worker of `serve`: a background task that runs one worker pass every `VIDEO_TICK_SECONDS`
(the store's tick lease lets one process of several do it at a time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from qwen_server.blob.base import BlobError
from qwen_server.core.errors import GatewayError

if TYPE_CHECKING:
    from qwen_server.generation.service import Media

log = logging.getLogger("qwen_server.generation")


async def run_worker(interval: float, media: Callable[[], Awaitable[Media]]) -> None:
    """Passes until cancelled; `media` is asked on each pass, so a configuration error is logged and retried."""
    while True:
        await asyncio.sleep(interval)
        try:
            done = await (await media()).videos.tick()
        except (GatewayError, BlobError) as exc:
            log.warning("video worker pass failed: %s", getattr(exc, "message", exc))
            continue
        if done["advanced"] or done["expired"]:
            log.info("video worker: %d advanced, %d expired", done["advanced"], done["expired"])
