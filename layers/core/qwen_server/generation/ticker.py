"""The video worker of `serve`: a background task that runs one worker pass every `VIDEO_TICK_SECONDS`
(the store's tick lease lets one process of several do it at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from qwen_server.blob.base import BlobError
from qwen_server.core.errors import GatewayError

log = logging.getLogger("qwen_server.generation")


async def run_worker(interval: float) -> None:
    from qwen_server.generation.service import get_media

    while True:
        await asyncio.sleep(interval)
        try:
            media = await get_media()
            done = await media.videos.tick()
        except (GatewayError, BlobError) as exc:
            log.warning("video worker pass failed: %s", getattr(exc, "message", exc))
            continue
        if done["advanced"] or done["expired"]:
            log.info("video worker: %d advanced, %d expired", done["advanced"], done["expired"])


def add_video_worker(app: FastAPI) -> None:
    """Start the worker with the app and stop it with it."""
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        from qwen_server.config import ConfigError, get_settings

        try:
            interval = get_settings().video_tick_seconds
        except ConfigError as exc:
            log.warning("video worker not started: %s", exc)
            return
        tasks.append(asyncio.get_running_loop().create_task(run_worker(interval)))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)
