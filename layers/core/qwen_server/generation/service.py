"""The process's media services, built on first use from the runtime (pool, scheduler, clients, store) and
the blob store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pool, the scheduler and the blob store load with the first request, not at import
    from qwen_server.blob.service import Blobs
    from qwen_server.generation.runner import MediaRunner
    from qwen_server.generation.videos import Videos


@dataclass
class Media:
    runner: MediaRunner
    blobs: Blobs
    videos: Videos


_media: Media | None = None
_lock = asyncio.Lock()


async def get_media() -> Media:
    global _media
    if _media is not None:
        return _media
    async with _lock:
        if _media is None:
            from qwen_server.app.runtime import get_runtime
            from qwen_server.blob.service import get_blobs
            from qwen_server.generation.runner import MediaRunner
            from qwen_server.generation.videos import Videos
            from qwen_server.providers.dashscope_media import DashScopeMedia
            from qwen_server.providers.media import MediaProvider
            from qwen_server.providers.openai_media import OpenAIMedia
            from qwen_server.providers.qwen_web.media import WebMedia
            from qwen_server.providers.qwen_web.provider import QwenWebProvider

            runtime = await get_runtime()
            blobs = await get_blobs()
            gateway = runtime.gateway
            providers: dict[str, MediaProvider] = {
                "dashscope": DashScopeMedia(runtime.clients),
                "openai": OpenAIMedia(runtime.clients),
            }
            web = gateway.providers.get("qwen-web")
            if isinstance(web, QwenWebProvider):
                providers["qwen-web"] = WebMedia(web)
            web_model = gateway.catalog.resolve(gateway.catalog.default_model).upstream
            runner = MediaRunner(
                gateway.pool,
                gateway.scheduler,
                runtime.store,
                providers,
                web_model,
                patience=runtime.settings.upstream_first_byte_timeout,
            )
            settings = runtime.settings
            videos = Videos(
                runner,
                runtime.store,
                blobs,
                poll_seconds=settings.video_poll_seconds,
                keep_seconds=settings.video_keep_seconds,
            )
            _media = Media(runner, blobs, videos)
    return _media


def reset_media() -> None:
    global _media
    _media = None
