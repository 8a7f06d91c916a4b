"""The web's image and video turns as pure functions: request bodies, image URLs out of the SSE answer,
the `wanx` task id of a video submission, and a task status answer.

t2i / image edit: a streamed turn whose `chat_type` says what to do (`t2i`, `image_edit`); each image URL is
the `content` of a delta in the `image_gen` / `image_edit` phase (an edit may echo its input first, which is
left out). t2v / i2v: `stream: false`, the task id at `data.messages[0].extra.wanx.task_id`, then
`GET /api/v2/task/status/<id>`, whose real status is the `x-actual-status-code` header (the wire says 200).
"""

from __future__ import annotations

from typing import Any

from qwen_server.core.errors import GatewayError, UpstreamError, UpstreamRateLimited
from qwen_server.core.numbers import whole_number
from qwen_server.providers.media import TaskState
from qwen_server.providers.qwen_web import wire

TASK_STATUS_PATH = "/api/v2/task/status/{task_id}"
IMAGE_PHASES = frozenset({"image_gen", "image_edit"})
ACTUAL_STATUS = "x-actual-status-code"


def media_body(
    *,
    chat_id: str,
    model: str,
    prompt: str,
    chat_type: str,
    ratio: str,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A t2i / image_edit / t2v / i2v turn: the chat envelope with the ratio at the top and in `extra.meta`."""
    video = chat_type in ("t2v", "i2v")
    body = wire.completion_body(
        chat_id=chat_id,
        model=model,
        content=prompt,
        thinking=False,
        thinking_budget=None,
        stream=not video,
        chat_type=chat_type,
        files=files,
    )
    message = body["messages"][0]
    message["extra"]["meta"]["size"] = ratio
    if video:
        message["feature_config"].update(auto_thinking=False, thinking_mode="Fast", research_mode="normal")
    body["size"] = ratio
    return body


def image_urls(payload: dict[str, Any], skip: frozenset[str]) -> list[str]:
    """Image URLs in one decoded `data:` object (none for other phases); raises an in-stream error."""
    error = media_error(payload)
    if error is not None:
        raise error
    urls = []
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if delta.get("phase") in IMAGE_PHASES and isinstance(content, str) and content.startswith("http"):
            if content not in skip:
                urls.append(content)
    return urls


def image_turn_finished(payload: dict[str, Any]) -> bool:
    """Whether this frame ends the image phase (`status: finished`): the turn's images are all in."""
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("phase") in IMAGE_PHASES and delta.get("status") == "finished":
            return True
    return False


def media_error(payload: dict[str, Any]) -> GatewayError | None:
    """An error answer as a product error; the daily limit (`RateLimited` with `num` hours) says when it
    resets, as `retry_after`."""
    fields = wire.error_fields(payload)
    if fields is None:
        return None
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    hours = data.get("num") if isinstance(data, dict) else None
    if "ratelimit" in fields[0].lower().replace("_", "") and isinstance(hours, int | float) and hours > 0:
        return UpstreamRateLimited(
            f"qwen upstream: daily limit reached, resets in {hours:g} h", retry_after=hours * 3600.0
        )
    return wire.classify_code(*fields)


def task_id_of(payload: Any) -> str:
    try:
        task_id = payload["data"]["messages"][0]["extra"]["wanx"]["task_id"]
    except (KeyError, IndexError, TypeError):
        task_id = None
    if not isinstance(task_id, str) or not task_id:
        raise UpstreamError("qwen upstream accepted the video but named no task")
    return task_id


def task_state(status: int, headers: dict[str, str], payload: Any) -> TaskState:
    """A task status answer: the header's status wins over the wire's."""
    actual = headers.get(ACTUAL_STATUS, "")
    header_status = whole_number(actual)
    code = status if header_status is None else header_status
    if isinstance(payload, dict):
        error = media_error(payload)
        if error is not None and code < 400:
            raise error
    if code >= 400:
        if code == 404:
            return TaskState("failed", error="the upstream no longer knows this task")
        raise wire.classify_response(code, b"", {})
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise UpstreamError("qwen upstream answered a task status without data")
    task_status = str(data.get("task_status") or "")
    if task_status in ("running", "pending", "queued", ""):
        return TaskState("running")
    content = data.get("content")
    if task_status == "success" and isinstance(content, str) and content.startswith("http"):
        return TaskState("succeeded", url=content)
    return TaskState("failed", error=f"the upstream reported the video {task_status or 'failed'}")
