"""Once per request, before it queues for an account: every media part resolved, sized, typed, and allowed
by the model. Whatever is wrong with the media is a 400 here, before any slot is taken or byte uploaded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from qwen_server.core.model import ChatRequest
from qwen_server.media import capability
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.resolve import FileSource, media_parts, resolve_part

Capabilities = Callable[[], Awaitable[Mapping[str, frozenset[str]]]]
"""Model id -> what it takes (`ModelsDirectory.capabilities`), asked only when the request carries media."""


async def prepare(
    request: ChatRequest, capabilities: Capabilities, policy: FetchPolicy, files: FileSource | None = None
) -> None:
    parts = media_parts(request.messages)
    if not parts:
        return
    table = await capabilities()
    capability.check(request.model, parts, table)  # the declared kinds: refused before any fetch
    await asyncio.gather(*(resolve_part(p, request.tenant, policy, files) for p in parts))
    capability.check(request.model, parts, table)  # a generic file may have turned out to be an image
