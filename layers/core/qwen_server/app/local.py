"""The local all-in-one app: every function group's routes in one process, and the background workers beside
them: the batch worker (unless `BATCH_WORKER=false`, e.g. when `qwen-server worker` processes run it instead),
the video worker, which advances and expires video jobs nobody is polling, and the blob sweep, which deletes
expired local blobs every `BLOB_SWEEP_SECONDS`. On AWS and Vercel the same passes run on a schedule instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from qwen_server.app.factory import all_groups, build_app
from qwen_server.app.runtime import RuntimeCell

log = logging.getLogger("qwen_server")


@contextlib.asynccontextmanager
async def _with_workers(app: FastAPI) -> AsyncIterator[None]:
    from qwen_server.config import ConfigError

    try:
        settings = runtime.settings()
    except ConfigError:
        yield  # `serve` has already refused a bad configuration; gunicorn answers 503s instead
        return
    from qwen_server.blob.expiry import sweep_forever
    from qwen_server.generation.ticker import run_worker

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_worker(settings.video_tick_seconds, runtime.media)),
        asyncio.create_task(sweep_forever(settings.blob_sweep_seconds, runtime.blob_store)),
    ]
    if settings.batch_worker:
        from qwen_server.batches.worker import run_forever

        tasks.append(asyncio.create_task(run_forever(stop, runtime.batches)))
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


runtime = RuntimeCell()
app = build_app(all_groups(), runtime)
app.router.lifespan_context = _with_workers
