"""The Anthropic stream on the wire: `event: <name>\\ndata: <json>\\n\\n` lines, pings and in-stream errors.

`message_start` goes first and a `ping` right after it, then the translated events, with a further `ping`
for every `interval` of upstream silence (see `keepalive`). After the first byte a failure can only be
reported inside the stream: an `error` event carrying Anthropic's error object, after which the stream ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from qwen_server.api.anthropic.errors import anthropic_error_body
from qwen_server.api.anthropic.events import MessageEvents, StreamEvent
from qwen_server.api.anthropic.keepalive import Ping
from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError
from qwen_server.core.model import Event, Finish, Flush

log = logging.getLogger("qwen_server")


def sse(event: StreamEvent | dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


PING_LINE = sse({"type": "ping"})


async def sse_message(
    first: Event | Ping, rest: AsyncIterator[Event | Ping], translator: MessageEvents
) -> AsyncIterator[bytes]:
    """The whole stream, given the first item already pulled (so errors before it became HTTP errors).

    Once the upstream marks its reads (`Flush`), the events of one read go out as one write."""
    yield sse(translator.start())
    yield PING_LINE  # the ping right after message_start also covers a `first` that was itself a ping
    gathered: list[bytes] = []
    batching = False
    try:
        if not isinstance(first, Ping):
            for out in translator.feed(first):
                yield sse(out)
        async for item in rest:
            if isinstance(item, Ping | Flush):
                batching = batching or isinstance(item, Flush)
                if isinstance(item, Ping):
                    gathered.append(PING_LINE)
                if gathered:
                    yield b"".join(gathered)
                    gathered.clear()
                continue
            for out in translator.feed(item):
                if batching:
                    gathered.append(sse(out))
                else:
                    yield sse(out)
        if not translator.finished:  # the gateway always ends with Finish; keep the grammar if not
            gathered += [sse(out) for out in translator.feed(Finish())]
        if gathered:
            yield b"".join(gathered)
    except GatewayError as exc:
        yield b"".join(gathered) + sse(anthropic_error_body(exc))
    except Exception:
        log.exception("the Anthropic stream failed after its first byte")
        failure = GatewayError("The gateway hit an unexpected error; it was logged with this request's id.")
        yield b"".join(gathered) + sse(anthropic_error_body(failure))
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())
