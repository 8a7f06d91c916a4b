"""Starting work on a new batch now rather than at the next scheduled tick.

In a process that runs the worker loop (`serve`, `qwen-server worker`) the loop is woken. On AWS Lambda the
function invokes its own worker entry asynchronously (`InvocationType=Event`), so the create request returns at
once and the lines start within a second; the EventBridge schedule is the fallback either way. Elsewhere
(Vercel) the cron tick picks the batch up.
"""

from __future__ import annotations

import logging
import os

import anyio

from qwen_server.batches.worker import wake_local

log = logging.getLogger("qwen_server")
TICK_EVENT = b'{"batches_tick": true}'


async def kick() -> None:
    if wake_local():
        return
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function:
        return

    def invoke() -> None:
        import boto3

        boto3.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=TICK_EVENT)

    try:
        await anyio.to_thread.run_sync(invoke)
    except Exception as exc:  # the schedule picks the batch up within a minute anyway
        log.warning("could not start the batch worker at once (%s); the schedule will", type(exc).__name__)
