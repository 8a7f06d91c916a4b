"""AWS entry of the batches function: `handler.handler`.

HTTP API events go to the app through Mangum. The EventBridge schedule (every minute) and the function's own
asynchronous kick when a batch is created send `{"batches_tick": true}`: one bounded pass of the batch worker.
"""

from typing import Any

from app import app, runtime

from qwen_server.batches.lambda_tick import run_tick
from qwen_server.serverless.handler import mangum_handler

_http = mangum_handler(app)


def handler(event: dict[str, Any], context: Any) -> Any:
    if isinstance(event, dict) and event.get("batches_tick"):
        return run_tick(runtime.batches)
    return _http(event, context)
