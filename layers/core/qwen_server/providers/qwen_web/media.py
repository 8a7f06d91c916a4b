"""Image and video generation on web accounts (`providers.media.MediaProvider`), over the chat provider's
sign-in and calls: a fresh chat per turn with the media chat type, then the turn (`media_wire`).

Source images (edits, image-to-video) go up first through the chat provider's upload flow (`attach_image`:
STS credentials, the signed OSS PUT), and the turn names the upload in `files[]`.
"""

from __future__ import annotations

from typing import Any

import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, UpstreamError, UpstreamForbidden
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account
from qwen_server.providers.http import drain
from qwen_server.providers.media import ImageAsk, InputImage, Produced, TaskState, VideoAsk
from qwen_server.providers.media_download import download
from qwen_server.providers.qwen_web import media_wire, wire
from qwen_server.providers.qwen_web.provider import QwenWebProvider


class WebMedia:
    def __init__(self, provider: QwenWebProvider) -> None:
        self._web = provider

    async def attach_image(self, account: Account, image: InputImage) -> dict[str, Any]:
        """The `files[]` entry of the source image, uploaded to `account` (the chat provider's upload flow)."""
        return await self._web.uploads.upload_part(
            account, image.data, media_type=image.media_type, filename=image.filename, kind="image"
        )

    async def images(self, account: Account, ask: ImageAsk) -> list[Produced]:
        chat_type = "image_edit" if ask.source is not None else "t2i"
        files = [await self.attach_image(account, ask.source)] if ask.source is not None else None
        chat_id = await self._web._new_chat(account, ask.model)
        try:
            body = media_wire.media_body(
                chat_id=chat_id,
                model=ask.model,
                prompt=ask.prompt,
                chat_type=chat_type,
                ratio=ask.ratio,
                files=files,
            )
            skip = frozenset(str(f.get("url")) for f in files or ())
            urls = await self._stream_urls(account, chat_id, body, skip)
        finally:
            self._delete_later(account, chat_id)
        if not urls:
            raise UpstreamError("qwen upstream finished the image turn without an image")
        return [Produced(url=u) for u in urls]

    async def _stream_urls(
        self, account: Account, chat_id: str, body: dict[str, Any], skip: frozenset[str]
    ) -> list[str]:
        client = self._web._clients.get(account.base_url)
        url = f"{account.base_url}{wire.COMPLETIONS_PATH}?chat_id={chat_id}"
        content = orjson.dumps(body)
        for attempt in (0, 1):
            token = await self._web._tokens.token(account, client)
            response = await client.open(
                "POST", url, content=content, headers=self._web._headers(account, token, chat_id, stream=True)
            )
            try:
                if response.status == 401 and attempt == 0:
                    await self._web._tokens.invalidate(account, token)
                    continue
                if response.status >= 400 or "event-stream" not in response.headers.get("content-type", ""):
                    raw = await response.read()
                    _raise_json_error(response.status, raw, response.headers)
                found: list[str] = []
                parser = SSEParser()
                chunks = response.chunks()
                finished = False
                async for piece in chunks:
                    for sse in parser.feed(piece):
                        payload = _decoded(sse.data)
                        if payload is not None:
                            found += media_wire.image_urls(payload, skip)
                            finished = finished or media_wire.image_turn_finished(payload)
                    if finished:
                        break
                await drain(chunks)
                return found
            finally:
                await cleanup.complete(response.close())
        raise UpstreamForbidden(f"account {account.name}: refused (HTTP 401) after a fresh sign-in")

    async def submit_video(self, account: Account, ask: VideoAsk) -> str:
        chat_type = "i2v" if ask.source is not None else "t2v"
        files = [await self.attach_image(account, ask.source)] if ask.source is not None else None
        chat_id = await self._web._new_chat(account, ask.model)
        body = media_wire.media_body(
            chat_id=chat_id,
            model=ask.model,
            prompt=ask.prompt,
            chat_type=chat_type,
            ratio=ask.ratio,
            files=files,
        )
        try:
            payload = await self._web._call_json(
                account, "POST", f"{wire.COMPLETIONS_PATH}?chat_id={chat_id}", body
            )
        except GatewayError:
            self._delete_later(account, chat_id)
            raise
        return media_wire.task_id_of(payload)  # the chat stays: the task belongs to it

    async def video_status(self, account: Account, task_id: str) -> TaskState:
        client = self._web._clients.get(account.base_url)
        path = media_wire.TASK_STATUS_PATH.format(task_id=task_id)
        for attempt in (0, 1):
            token = await self._web._tokens.token(account, client)
            reply = await client.fetch(
                "GET", account.base_url + path, headers=self._web._headers(account, token)
            )
            actual = reply.headers.get(media_wire.ACTUAL_STATUS, "")
            if (reply.status == 401 or actual == "401") and attempt == 0:
                await self._web._tokens.invalidate(account, token)
                continue
            try:
                payload = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                raise wire.classify_response(reply.status, reply.body, reply.headers) from None
            return media_wire.task_state(reply.status, reply.headers, payload)
        raise UpstreamForbidden(f"account {account.name}: task status refused after a fresh sign-in")

    async def download(self, account: Account, url: str, limit: int) -> bytes:
        return await download(self._web._clients, url, limit)

    def _delete_later(self, account: Account, chat_id: str) -> None:
        if self._web._delete_chats:
            self._web._spawn_delete(account, chat_id)


def _decoded(data: str) -> dict[str, Any] | None:
    data = data.strip()
    if not data or data == "[DONE]":
        return None
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _raise_json_error(status: int, raw: bytes, headers: dict[str, str]) -> None:
    """A JSON answer where the image stream was due: the daily limit, another error, or nonsense."""
    payload = _decoded(raw.decode("utf-8", errors="replace"))
    if payload is not None and status < 400:
        error = media_wire.media_error(payload)
        if error is not None:
            raise error
        raise UpstreamError("qwen upstream answered the image turn without a stream")
    raise wire.classify_response(status, raw, headers)


__all__ = ["WebMedia"]
