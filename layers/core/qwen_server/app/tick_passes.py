"""The worker passes behind the tick routes, and how each continues the self-triggered chain
(`app.self_tick`): a cron or schedule gets one pass and its counts; a self-call gets 202 at once and its pass
runs after the response."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from qwen_server.app.self_tick import after_response, enabled, nudge

if TYPE_CHECKING:
    from qwen_server.app.runtime import Runtime

log = logging.getLogger("qwen_server")
SWEEP_GATE = "qwen:blob-sweep"  # present while the last tick's blob sweep is younger than BLOB_SWEEP_SECONDS


async def batches_pass(runtime: Runtime) -> dict[str, int]:
    """One bounded pass of the batch worker; while batches remain, the chain goes on (at once after progress,
    through the gate after a pass that got nothing done)."""
    from qwen_server.batches import records
    from qwen_server.batches.worker import sweep_blobs, tick

    work = await runtime.batches()
    done = await tick(work, seconds=work.tick_seconds)
    # expired blobs go with a pass once per BLOB_SWEEP_SECONDS across instances: a sweep lists every mark, and
    # self-triggered passes can follow each other within seconds (S3 expires its own by lifecycle rules)
    if await runtime.store.set_if_absent(SWEEP_GATE, b"1", ttl=runtime.settings.blob_sweep_seconds):
        await sweep_blobs(work)
    done["remaining"] = len(await runtime.store.scan(records.ACTIVE))
    if done["remaining"]:
        await nudge(runtime, "batches", gated=not (done["lines"] or done["finalized"]))
    log.info("batches tick: %s", done)
    return done


async def videos_pass(runtime: Runtime, *, keep_going: bool) -> dict[str, int]:
    """A video worker pass; with `keep_going` (a self-call) passes repeat every `VIDEO_POLL_SECONDS` for up
    to `BATCH_TICK_SECONDS` while jobs are running upstream, then the chain goes on if any still are."""
    media = await runtime.media()
    deadline = time.monotonic() + runtime.settings.batch_tick_seconds
    total = {"advanced": 0, "completed": 0, "expired": 0, "pending": 0, "skipped": 0}
    while True:
        done = await media.videos.tick()
        for key in ("advanced", "completed", "expired"):
            total[key] += done[key]
        total["pending"], total["skipped"] = done["pending"], done["skipped"]
        if not keep_going or not done["pending"] or done["skipped"] or time.monotonic() >= deadline:
            break
        await asyncio.sleep(media.videos.poll_seconds)
    if total["pending"] and enabled(runtime.settings):
        await nudge(runtime, "videos", gated=not keep_going or bool(total["skipped"]))
    log.info("videos tick: %s", total)
    return total


def later(runtime: Runtime, kind: str) -> None:
    """Run the pass of `kind` after the response (a self-call's 202)."""

    async def run() -> None:
        from qwen_server.blob.base import BlobError
        from qwen_server.core.errors import GatewayError

        try:
            if kind == "batches":
                await batches_pass(runtime)
            else:
                await videos_pass(runtime, keep_going=True)
        except (GatewayError, BlobError) as exc:
            log.warning("%s tick failed: %s", kind, getattr(exc, "message", exc))

    after_response(run())
