"""Once per request, before it queues for an account: the model a family alias stands for chosen by what the
request needs, then every media part resolved, sized, typed, and allowed by the model. Whatever is wrong with
the media is a 400 here, before any slot is taken or byte uploaded.

What a request may make the gateway read is bounded before it is read: the number of parts
(`limits.check_count`), and for `file_id` parts each file's recorded size against its part's cap and all
the files' sizes against the request's total (`limits.check_total`), from metadata alone. Each distinct file
is then read once, its bytes shared by every part that names it. URLs are fetched a few at a time, the
running total checked as each arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from qwen_server.core.model import ChatRequest, MediaKind, MediaPart
from qwen_server.media import capability, limits
from qwen_server.media.capability import ModelCapabilities
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.resolve import (
    FileSource,
    StoredFile,
    capped_kind,
    media_parts,
    resolve_part,
    stored_file,
)

Capabilities = Callable[[], Awaitable[ModelCapabilities]]
"""What the served models take (`ModelsDirectory.capabilities`), asked only when the request carries media
or a family alias must pick a thinking member."""

MODEL_CANDIDATES = "model_candidates"  # `ChatRequest.extra` key: a family alias's members, in order

FETCHES_AT_ONCE = 4


async def prepare(
    request: ChatRequest, capabilities: Capabilities, policy: FetchPolicy, files: FileSource | None = None
) -> None:
    parts = media_parts(request.messages)
    limits.check_count(parts)
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
    await read_files_once(parts, request.tenant, files)
    await _resolve_all(parts, request.tenant, policy, files)
    if candidates:  # a generic file may have turned out to be an image
        request.model = capability.choose(candidates, capability.needs(parts, request.thinking), table, served)
    capability.check(request.model, parts, table, served)


async def read_files_once(parts: list[MediaPart], tenant: str, files: FileSource | None) -> None:
    """Fill the bytes of every `file_id` part: sizes checked from metadata first, then each file read once."""
    named: dict[str, list[MediaPart]] = {}
    for part in parts:
        if part.data is None and part.file_id is not None:
            named.setdefault(part.file_id, []).append(part)
    if not named:
        return
    found: dict[str, StoredFile] = {}
    for file_id, naming in named.items():
        stored = found[file_id] = await stored_file(naming[0], tenant, files)
        kinds: dict[MediaKind, MediaKind] = {}
        for part in naming:
            if part.kind not in kinds:
                kinds[part.kind] = await capped_kind(part.kind, stored)
            limits.check_size(kinds[part.kind], stored.size, part.param)
    inline = {id(p.data): len(p.data) for p in parts if p.data is not None}
    first = next(iter(named.values()))[0]
    limits.check_total(sum(inline.values()) + sum(s.size for s in found.values()), first.param)
    contents = await asyncio.gather(*(stored.read() for stored in found.values()))
    for (file_id, naming), data in zip(named.items(), contents, strict=True):
        stored = found[file_id]
        for part in naming:
            part.data = data
            part.media_type = part.media_type or stored.media_type
            part.filename = part.filename or stored.filename


async def _resolve_all(
    parts: list[MediaPart], tenant: str, policy: FetchPolicy, files: FileSource | None
) -> None:
    """Every part resolved (URLs fetched, at most `FETCHES_AT_ONCE` at a time), the request's media total
    checked as each part's bytes arrive, each distinct byte string counted once."""
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)
    counted: set[int] = set()
    total = 0

    async def one(part: MediaPart) -> None:
        nonlocal total
        async with gate:
            await resolve_part(part, tenant, policy, files)
        assert part.data is not None
        if id(part.data) not in counted:
            counted.add(id(part.data))
            total += len(part.data)
            limits.check_total(total, part.param)

    tasks = [asyncio.ensure_future(one(p)) for p in parts]
    try:
        await asyncio.gather(*tasks)
    finally:  # the first refusal ends the others: no fetch goes on for a request already answered
        for task in tasks:
            task.cancel()
