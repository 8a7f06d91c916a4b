"""`/v1/images/generations` and `/v1/images/edits`: n units of one image each, run in parallel in the media
class, each result read from the upstream and handed out as our own bytes (base64) or a signed link to our
blob store. Upstream URLs never leave this module."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from qwen_server.core.errors import GatewayError
from qwen_server.generation.catalog import MediaModel
from qwen_server.providers.media import ImageAsk, InputImage, MediaProvider

if TYPE_CHECKING:  # the pool and the blob store load with the first request, not at import
    from qwen_server.blob.service import Blobs
    from qwen_server.generation.runner import MediaRunner
    from qwen_server.providers.base import Account

MAX_IMAGE_BYTES = 32 * 1024 * 1024
KINDS = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"RIFF", "image/webp", "webp"),
)


@dataclass(frozen=True, slots=True)
class ImageOrder:
    tenant: str
    model: MediaModel
    prompt: str
    n: int
    ratio: str
    response_format: str  # url | b64_json
    source: InputImage | None = None


def sniff(data: bytes) -> tuple[str, str]:
    """(media type, extension) from the first bytes; PNG when unknown (every upstream here answers PNG)."""
    for magic, media_type, ext in KINDS:
        if data.startswith(magic):
            return media_type, ext
    return "image/png", "png"


async def make_images(
    runner: MediaRunner, blobs: Blobs, request: Request | None, order: ImageOrder
) -> dict[str, Any]:
    """The OpenAI images response for `order`."""
    edit = order.source is not None

    async def one_image(account: Account, upstream: str, provider: MediaProvider) -> bytes:
        produced = await provider.images(account, ImageAsk(order.prompt, order.ratio, upstream, order.source))
        first = produced[0]
        if first.data is not None:
            return first.data
        assert first.url is not None
        return await provider.download(account, first.url, MAX_IMAGE_BYTES)

    try:
        async with asyncio.TaskGroup() as group:  # one failing unit cancels the others
            units = [
                group.create_task(runner.run(order.tenant, order.model, one_image, edit=edit))
                for _ in range(order.n)
            ]
    except* GatewayError as failed:
        raise failed.exceptions[0] from None
    done = [unit.result() for unit in units]
    data = []
    for image, _account in done:
        if order.response_format == "b64_json":
            data.append({"b64_json": base64.b64encode(image).decode(), "revised_prompt": None})
            continue
        media_type, ext = sniff(image)
        key = f"images/{order.tenant}/{secrets.token_hex(12)}.{ext}"
        await blobs.store.put_bytes(key, image, media_type, expires_at=time.time() + blobs.link_seconds)
        data.append({"url": await blobs.link(request, key, media_type, f"image.{ext}"), "revised_prompt": None})
    return {"created": int(time.time()), "data": data}
