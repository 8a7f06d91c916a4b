"""Once per request, before it queues for an account: every media part resolved, sized, typed, and allowed
by the model. Whatever is wrong with the media is a 400 here, before any slot is taken or byte uploaded."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from qwen_server.core.model import ChatRequest
from qwen_server.media import capability
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.resolve import media_parts, resolve_part

if TYPE_CHECKING:
    from qwen_server.models_directory import ModelsDirectory


async def prepare(request: ChatRequest, models: ModelsDirectory) -> None:
    parts = media_parts(request.messages)
    if not parts:
        return
    listing = await models.listing()
    table = capability.known_capabilities(listing.models, models.catalog.fallback_models)
    capability.check(request.model, parts, table)  # the declared kinds: refused before any fetch
    policy = FetchPolicy.from_settings()
    await asyncio.gather(*(resolve_part(p, request.tenant, policy) for p in parts))
    capability.check(request.model, parts, table)  # a generic file may have turned out to be an image
