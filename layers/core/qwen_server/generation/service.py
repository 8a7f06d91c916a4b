"""The media services (the runner that takes accounts for image and video work, and the video jobs), built
from the collaborators whoever composes the runtime hands in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pool, the scheduler and the blob store load with the first request, not at import
    from qwen_server.blob.service import Blobs
    from qwen_server.gateway import Gateway
    from qwen_server.generation.runner import MediaRunner
    from qwen_server.generation.videos import Videos
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.store.base import Store


@dataclass
class Media:
    runner: MediaRunner
    blobs: Blobs
    videos: Videos


def build_media(
    gateway: Gateway,
    clients: ClientRegistry,
    store: Store,
    blobs: Blobs,
    *,
    patience: float,
    poll_seconds: float,
    keep_seconds: float,
) -> Media:
    """Each upstream kind's media provider over the gateway's pool and scheduler; the web kind only when the
    gateway serves Qwen Chat web accounts."""
    from qwen_server.generation.runner import MediaRunner
    from qwen_server.generation.videos import Videos
    from qwen_server.providers.dashscope_media import DashScopeMedia
    from qwen_server.providers.media import MediaProvider
    from qwen_server.providers.openai_media import OpenAIMedia
    from qwen_server.providers.qwen_web.media import WebMedia
    from qwen_server.providers.qwen_web.provider import QwenWebProvider

    providers: dict[str, MediaProvider] = {
        "dashscope": DashScopeMedia(clients),
        "openai": OpenAIMedia(clients),
    }
    web = gateway.providers.get("qwen-web")
    if isinstance(web, QwenWebProvider):
        providers["qwen-web"] = WebMedia(web)
    web_model = gateway.catalog.resolve(gateway.catalog.default_model).upstream
    runner = MediaRunner(gateway.pool, gateway.scheduler, store, providers, web_model, patience=patience)
    videos = Videos(runner, store, blobs, poll_seconds=poll_seconds, keep_seconds=keep_seconds)
    return Media(runner, blobs, videos)
