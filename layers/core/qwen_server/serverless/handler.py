"""The Lambda handler for buffered functions: Mangum with the ASGI lifespan off.

Why off: Mangum would run the lifespan on every invocation, and the app keeps its singletons lazily
(`qwen_server.app.runtime`), so there is nothing to start or stop per invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mangum.types import ASGI

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def mangum_handler(app: ASGI) -> LambdaHandler:
    """A handler for HTTP API (payload 2.0), Function URL, REST API and ALB events.

    Build it once at module level: Mangum keeps one event loop, which the runtime's HTTP clients and
    locks are bound to across warm invocations.
    """
    from mangum import Mangum

    handler: LambdaHandler = Mangum(app, lifespan="off")
    return handler
