"""Images on OpenAI-compatible accounts: `POST {base_url}/images/generations` and `/images/edits`, passed
through under the requested model name. Results come back as `b64_json` (asked for), or as URLs the gateway
reads and re-hosts. Videos are not offered on this kind."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import orjson

from qwen_server.core.errors import UpstreamBadRequest, UpstreamError
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.media import ImageAsk, Produced, TaskState, VideoAsk
from qwen_server.providers.media_download import download
from qwen_server.providers.media_sizes import OPENAI_OF_RATIO
from qwen_server.providers.openai_errors import classify


class OpenAIMedia:
    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    async def images(self, account: Account, ask: ImageAsk) -> list[Produced]:
        url = f"{account.base_url.rstrip('/')}/images/{'edits' if ask.source else 'generations'}"
        auth = {"Authorization": f"Bearer {account.api_key}"}
        fields = {
            "model": ask.model,
            "prompt": ask.prompt,
            "n": "1",
            "size": OPENAI_OF_RATIO[ask.ratio],
            "response_format": "b64_json",
        }
        if ask.source is not None:
            content, content_type = _multipart(
                fields, ask.source.filename, ask.source.media_type, ask.source.data
            )
        else:
            content, content_type = orjson.dumps({**fields, "n": 1}), "application/json"
        reply = await self._clients.get(url).fetch(
            "POST", url, headers={**auth, "Content-Type": content_type}, content=content
        )
        if reply.status >= 400:
            raise classify(reply.status, reply.body, reply.headers)
        try:
            items = orjson.loads(reply.body)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError("the upstream answered the image request without a `data` list") from None
        return [_produced(item) for item in items if isinstance(item, dict)]

    async def submit_video(self, account: Account, ask: VideoAsk) -> str:
        raise UpstreamBadRequest("OpenAI-compatible accounts do not make videos here")

    async def video_status(self, account: Account, task_id: str) -> TaskState:
        return TaskState("failed", error="OpenAI-compatible accounts do not make videos here")

    async def download(self, account: Account, url: str, limit: int) -> bytes:
        return await download(self._clients, url, limit)


def _produced(item: dict[str, Any]) -> Produced:
    if isinstance(item.get("b64_json"), str):
        try:
            return Produced(data=base64.b64decode(item["b64_json"], validate=True))
        except binascii.Error:
            raise UpstreamError("the upstream answered an image that is not base64") from None
    if isinstance(item.get("url"), str):
        return Produced(url=item["url"])
    raise UpstreamError("the upstream answered an image without `b64_json` or `url`")


def _multipart(fields: dict[str, str], filename: str, media_type: str, data: bytes) -> tuple[bytes, str]:
    boundary = "qwen-gateway-" + os.urandom(12).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        f"Content-Type: {media_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
