"""Once per request, before it queues for an account: the model a family alias stands for chosen by what the
request needs, then every media part resolved, sized, typed, and allowed by the model. Whatever is wrong with
the media is a 400 here, before any slot is taken or byte uploaded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from qwen_server.core.model import ChatRequest
from qwen_server.media import capability
from qwen_server.media.capability import ModelCapabilities
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.resolve import FileSource, media_parts, resolve_part

Capabilities = Callable[[], Awaitable[ModelCapabilities]]
"""What the served models take (`ModelsDirectory.capabilities`), asked only when the request carries media
or a family alias must pick a thinking member."""

MODEL_CANDIDATES = "model_candidates"  # `ChatRequest.extra` key: a family alias's members, in order


async def prepare(
    request: ChatRequest, capabilities: Capabilities, policy: FetchPolicy, files: FileSource | None = None
) -> None:
    parts = media_parts(request.messages)
    candidates: tuple[str, ...] = request.extra.pop(MODEL_CANDIDATES, ())
    if not parts and not (candidates and request.thinking):
        return
    known = await capabilities()
    table, served = known.table, known.served
    if candidates:
        request.model = capability.choose(candidates, capability.needs(parts, request.thinking), table, served)
    if not parts:
        return
    capability.check(request.model, parts, table, served)  # the declared kinds: refused before any fetch
    await asyncio.gather(*(resolve_part(p, request.tenant, policy, files) for p in parts))
    if candidates:  # a generic file may have turned out to be an image
        request.model = capability.choose(candidates, capability.needs(parts, request.thinking), table, served)
    capability.check(request.model, parts, table, served)
