"""DashScope's native asynchronous media API, for `dashscope` accounts pointed at the emulator.

`POST /api/v1/services/aigc/{text2image|image2image}/image-synthesis` and
`POST /api/v1/services/aigc/video-generation/video-synthesis` need `X-DashScope-Async: enable` and a
`Bearer sk-…` key; they answer a PENDING task, which `GET /api/v1/tasks/{task_id}` reports RUNNING until its
time is up, then SUCCEEDED with result URLs on the keyed CDN route (or FAILED, see `media_book`). Images take
a tenth of the video time. Quotas count per API key, as DashScope's free quotas do.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator.media_book import MediaBook
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

SIZE_RATIOS = {
    "1024*1024": "1:1",
    "1280*720": "16:9",
    "720*1280": "9:16",
    "1024*768": "4:3",
    "768*1024": "3:4",
}


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})


def _key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return key if key.startswith("sk-") else None


def _ratio(size: Any) -> str:
    """The nearest web ratio of a DashScope `W*H` size (the emulator draws ratios only)."""
    if size in SIZE_RATIOS:
        return SIZE_RATIOS[size]
    try:
        width, height = (int(v) for v in str(size).split("*"))
    except ValueError:
        return "1:1"
    aspect = width / height
    return min(SIZE_RATIOS.values(), key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - aspect))


def _submit(state: EmulatorState, capability: str) -> Any:
    async def submit(request: Request) -> Response:
        key = _key(request)
        if key is None:
            return _error(401, "InvalidApiKey", "Invalid API-key provided.")
        if request.headers.get("x-dashscope-async") != "enable":
            return _error(403, "AccessDenied", "current user api does not support synchronous calls")
        try:
            body = orjson.loads(await request.body())
            prompt = str(body["input"]["prompt"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "InvalidParameter", "input.prompt is required")
        parameters = body.get("parameters") or {}
        kind = request.path_params.get("service", "t2v")
        if kind == "image2image" and not body["input"].get("base_image_url"):
            return _error(400, "InvalidParameter", "input.base_image_url is required")
        if capability == "video" and body.get("input", {}).get("img_url") is not None:
            kind = "i2v"
        book: MediaBook = state.media
        if not book.spend(key, capability):
            return _error(429, "Throttling.AllocationQuota", "Free allocated quota exceeded.")
        book.count(f"dashscope:{kind}")
        task_id = book.new_task(key, kind, _ratio(parameters.get("size")), prompt)
        task = book.tasks[task_id]
        task.started = time.monotonic()
        if capability == "image":
            task.seconds = book.video_seconds / 10
            task.chat_type = f"{kind}:{int(parameters.get('n') or 1)}"
        return json_response(
            200, {"request_id": str(uuid.uuid4()), "output": {"task_id": task_id, "task_status": "PENDING"}}
        )

    return submit


def _task(state: EmulatorState) -> Any:
    async def task(request: Request) -> Response:
        key = _key(request)
        if key is None:
            return _error(401, "InvalidApiKey", "Invalid API-key provided.")
        book: MediaBook = state.media
        task_id = request.path_params["task_id"]
        found = book.tasks.get(task_id)
        if found is None or found.owner != key:
            return _error(404, "InvalidParameter", "task not found")
        status = {"running": "RUNNING", "success": "SUCCEEDED", "failed": "FAILED"}[book.state(found)]
        output: dict[str, Any] = {"task_id": task_id, "task_status": status}
        base = str(request.base_url)
        if status == "FAILED":
            output.update(code="InternalError", message="generation failed (emulated)")
        elif status == "SUCCEEDED" and found.chat_type.startswith(("text2image", "image2image")):
            count = int(found.chat_type.split(":")[1])
            output["results"] = [
                {"url": book.cdn_url(base, "ds", "t2i", found.ratio, "png", f"{found.prompt}{i}")}
                for i in range(count)
            ]
        elif status == "SUCCEEDED":
            if not found.url:
                found.url = book.cdn_url(base, "ds", found.chat_type, found.ratio, "mp4", found.prompt)
            output["video_url"] = found.url
        return json_response(200, {"request_id": str(uuid.uuid4()), "output": output})

    return task


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/api/v1/services/aigc/{service}/image-synthesis", _submit(state, "image"), methods=["POST"]),
        Route(
            "/api/v1/services/aigc/video-generation/video-synthesis",
            _submit(state, "video"),
            methods=["POST"],
        ),
        Route("/api/v1/tasks/{task_id}", _task(state), methods=["GET"]),
    ]
