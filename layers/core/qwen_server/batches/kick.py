"""Starting work on a new batch now rather than at the next scheduled tick.

In a process that runs the worker loop (`serve`, `qwen-server worker`) the loop is woken. On AWS Lambda the
function invokes its own worker entry asynchronously (`InvocationType=Event`), so the create request returns at
once and the lines start within a second; the EventBridge schedule is the fallback either way. Elsewhere
`kick` answers False and the caller starts the work another way (Vercel: the deployment calls its own tick
route, `app.self_tick`).
"""

from __future__ import annotations

import logging
import os

import anyio

from qwen_server.batches.worker import wake_local

log = logging.getLogger("qwen_server")
TICK_EVENT = b'{"batches_tick": true}'


async def kick() -> bool:
    """True when a worker here or the Lambda worker entry was told to start."""
    if wake_local():
        return True
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function or os.environ.get("VERCEL"):
        return False

    def invoke() -> None:
        import boto3

        boto3.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=TICK_EVENT)

    try:
        await anyio.to_thread.run_sync(invoke)
    except Exception as exc:  # the schedule picks the batch up within a minute anyway
        log.warning("could not start the batch worker at once (%s); the schedule will", type(exc).__name__)
    return True
