"""The local all-in-one app: every function group's routes in one process, and the batch worker beside them
(unless `BATCH_WORKER=false`, e.g. when `qwen-server worker` processes run it instead)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from qwen_server.app.factory import all_groups, build_app


@contextlib.asynccontextmanager
async def _with_batch_worker(app: FastAPI) -> AsyncIterator[None]:
    from qwen_server.config import ConfigError, get_settings

    try:
        enabled = get_settings().batch_worker
    except ConfigError:
        enabled = False  # `serve` has already refused a bad configuration; gunicorn answers 503s instead
    if not enabled:
        yield
        return
    from qwen_server.batches.worker import run_forever

    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


app = build_app(all_groups())
app.router.lifespan_context = _with_batch_worker
