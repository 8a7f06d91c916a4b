"""Images and videos on DashScope accounts: the native asynchronous task API.

Create with `X-DashScope-Async: enable` (`text2image/image-synthesis`, `image2image/image-synthesis` for
edits, `video-generation/video-synthesis`), then poll `GET /api/v1/tasks/{id}` until SUCCEEDED / FAILED.
Images are polled within the request (a few seconds upstream); videos become jobs the gateway polls later.
The native API lives at `/api/v1` of the account's host: an account's `base_url` is its OpenAI-compatible
one (`…/compatible-mode/v1`), whose suffix is cut off.

Source images go as data URLs (`base_image_url`, `img_url`), which the API accepts besides public URLs.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson

from qwen_server.core.errors import UpstreamError, UpstreamTimeout
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.media import ImageAsk, InputImage, Produced, TaskState, VideoAsk
from qwen_server.providers.media_download import download
from qwen_server.providers.media_sizes import DASHSCOPE_VIDEO, dashscope_image_size
from qwen_server.providers.openai_errors import classify, classify_error_object

TEXT2IMAGE = "/api/v1/services/aigc/text2image/image-synthesis"
IMAGE2IMAGE = "/api/v1/services/aigc/image2image/image-synthesis"
VIDEO = "/api/v1/services/aigc/video-generation/video-synthesis"
TASK = "/api/v1/tasks/{task_id}"
IMAGE_POLL_SECONDS = (0.2, 0.5, 1.0, 2.0)  # then every 2 s
IMAGE_PATIENCE = 240.0
STATES = {"PENDING": "running", "RUNNING": "running", "SUSPENDED": "running", "SUCCEEDED": "succeeded"}


def native_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    for suffix in ("/compatible-mode/v1", "/api/v1"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def _data_url(image: InputImage) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


class DashScopeMedia:
    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    def _headers(self, account: Account, *, submit: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
        if submit:
            headers["X-DashScope-Async"] = "enable"
        return headers

    async def _call(
        self, account: Account, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        url = native_root(account.base_url) + path
        reply = await self._clients.get(url).fetch(
            method,
            url,
            headers=self._headers(account, submit=body is not None),
            content=orjson.dumps(body) if body is not None else None,
        )
        if reply.status >= 400:
            raise classify(reply.status, reply.body, reply.headers)
        try:
            return orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise UpstreamError("DashScope answered a body that is not JSON") from None

    async def _submit(self, account: Account, path: str, body: dict[str, Any]) -> str:
        payload = await self._call(account, "POST", path, body)
        output = payload.get("output") if isinstance(payload, dict) else None
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError("DashScope accepted the task but named none")
        return task_id

    async def _output(self, account: Account, task_id: str) -> dict[str, Any]:
        payload = await self._call(account, "GET", TASK.format(task_id=task_id))
        output = payload.get("output") if isinstance(payload, dict) else None
        if not isinstance(output, dict):
            raise UpstreamError("DashScope answered a task without output")
        return output

    async def images(self, account: Account, ask: ImageAsk) -> list[Produced]:
        parameters: dict[str, Any] = {"n": 1}
        if ask.source is not None:
            path = IMAGE2IMAGE
            body_input = {
                "function": "description_edit",
                "prompt": ask.prompt,
                "base_image_url": _data_url(ask.source),
            }
        else:
            path = TEXT2IMAGE
            body_input = {"prompt": ask.prompt}
            parameters["size"] = dashscope_image_size(ask.ratio, ask.model)
        task_id = await self._submit(
            account, path, {"model": ask.model, "input": body_input, "parameters": parameters}
        )
        waited = 0.0
        for step in range(10_000):
            delay = IMAGE_POLL_SECONDS[min(step, len(IMAGE_POLL_SECONDS) - 1)]
            await asyncio.sleep(delay)
            waited += delay
            output = await self._output(account, task_id)
            status = str(output.get("task_status") or "")
            if status == "SUCCEEDED":
                urls = [r.get("url") for r in output.get("results") or () if isinstance(r, dict)]
                found = [Produced(url=u) for u in urls if isinstance(u, str)]
                if not found:
                    raise UpstreamError("DashScope finished the image task without an image")
                return found
            if STATES.get(status) != "running":
                raise classify_error_object({"code": output.get("code"), "message": output.get("message")})
            if waited > IMAGE_PATIENCE:
                break
        raise UpstreamTimeout(f"DashScope's image task took longer than {IMAGE_PATIENCE:.0f}s")

    async def submit_video(self, account: Account, ask: VideoAsk) -> str:
        body_input: dict[str, Any] = {"prompt": ask.prompt}
        if ask.source is not None:
            body_input["img_url"] = _data_url(ask.source)
        parameters = {"size": DASHSCOPE_VIDEO[ask.ratio], "duration": ask.seconds, "prompt_extend": True}
        return await self._submit(
            account, VIDEO, {"model": ask.model, "input": body_input, "parameters": parameters}
        )

    async def video_status(self, account: Account, task_id: str) -> TaskState:
        output = await self._output(account, task_id)
        status = str(output.get("task_status") or "")
        if status == "SUCCEEDED":
            url = output.get("video_url")
            if not isinstance(url, str):
                return TaskState("failed", error="DashScope finished the video without a URL")
            return TaskState("succeeded", url=url)
        if STATES.get(status) == "running":
            return TaskState("running")
        message = str(output.get("message") or status or "failed")[:200]
        return TaskState("failed", error=f"DashScope: {message}")

    async def download(self, account: Account, url: str, limit: int) -> bytes:
        return await download(self._clients, url, limit)
