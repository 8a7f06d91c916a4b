"""Web media turns: text-to-image and image edit (SSE with the image URL in the `image_gen` / `image_edit`
phase), text/image-to-video (`stream: false`, a `wanx` task id), task status, and the keyed CDN route.

`completions` calls `media_turn` for a message whose `chat_type` is one of `MEDIA_CHAT_TYPES`, after the
checks every completion gets (token, version header, chat ownership).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator import media_files, protocol
from qwen_server.emulator.accounts import Account
from qwen_server.emulator.catalog import BY_ID
from qwen_server.emulator.media_book import CAPABILITY, QUOTA_RESET_HOURS, MediaBook
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

MEDIA_CHAT_TYPES = frozenset(CAPABILITY)
RATIOS = frozenset(media_files.RATIO_PIXELS)
ACTUAL_STATUS = "x-actual-status-code"


def rate_limited() -> dict[str, Any]:
    """The web's daily-limit answer (HTTP 200), with the hours until it resets in `num`."""
    body = protocol.failure("RateLimited", "You've reached the upper limit for today's usage.")
    body["data"]["template"] = "You can try again in {{num}} hours."
    body["data"]["num"] = QUOTA_RESET_HOURS
    return body


def _invalid(details: str) -> Response:
    return json_response(200, protocol.failure("Bad_Request", details))


async def media_turn(
    state: EmulatorState, account: Account, chat_id: str, body: dict[str, Any], base: str
) -> Response:
    """One t2i / image_edit / t2v / i2v turn on an already checked chat, answered after the account's
    `first_token_latency` (a slow upstream, for tests of clients that leave)."""
    delay = state.knobs.for_account(account.index).first_token_latency
    if delay > 0:
        await asyncio.sleep(delay)
    book: MediaBook = state.media
    message = (body.get("messages") or [{}])[0]
    chat_type = str(message.get("chat_type"))
    model = BY_ID.get(str(body.get("model")))
    if model is None:
        return json_response(
            404, protocol.failure("Model_Not_Found", f"Model not found: {body.get('model')}")
        )
    supported = chat_type in model.chat_types or (chat_type == "i2v" and "t2v" in model.chat_types)
    if not supported:
        return _invalid(f"the model does not support {chat_type}")
    prompt = message.get("content")
    if not isinstance(prompt, str) or not prompt.strip():
        return _invalid("a prompt is required")
    ratio = str(body.get("size") or "1:1")
    if ratio not in RATIOS and not (chat_type in ("t2i", "image_edit") and ratio == "auto"):
        return _invalid(f"unsupported size {ratio!r}")
    ratio = "1:1" if ratio == "auto" else ratio
    files = message.get("files") or []
    source: str | None = None
    if chat_type in ("image_edit", "i2v"):  # the source image must be an upload of this account
        seen, refused = state.files.check_files(account.index, files if isinstance(files, list) else [None])
        if refused is not None or not seen or not seen[0].content_type.startswith("image/"):
            return _invalid(
                f"Invalid file information! {chat_type} needs an uploaded image: {refused or 'none'}"
            )
        source = str(files[0]["url"])
        prompt = f"{prompt} {seen[0].sha256}"  # the result depends on the image it was made from
    video = chat_type in ("t2v", "i2v")
    if video and body.get("stream") is not False:
        return _invalid("video turns are submitted with stream: false")
    if not book.spend(str(account.index), CAPABILITY[chat_type]):
        return json_response(200, rate_limited())
    state.stats.completed(account.index)
    book.count(chat_type)
    response_id = str(uuid.uuid4())
    if video:
        task_id = book.new_task(str(account.index), chat_type, ratio, prompt)
        assistant = {
            "role": "assistant",
            "content": "",
            "extra": {"wanx": {"task_id": task_id}},
            "done": False,
        }
        data = {"chat_id": chat_id, "parent_id": message.get("fid"), "message_id": response_id}
        return json_response(
            200, {"success": True, "data": {**data, "messages": [{**assistant, "size": ratio}]}}
        )
    width, height = media_files.RATIO_PIXELS[ratio]
    url = book.cdn_url(base, f"u{account.index}", chat_type, ratio, "png", prompt)
    phase = "image_gen" if chat_type == "t2i" else "image_edit"
    frames = [protocol.created_event(chat_id, str(message.get("fid")), response_id)]
    if chat_type == "image_edit":  # the web echoes the input image before the result
        frames.append(_image_frame(str(source), phase, response_id, width, height))
    frames.append(_image_frame(url, phase, response_id, width, height))
    frames.append(
        protocol.sse({"choices": [{"delta": {"content": "", "phase": phase, "status": "finished"}}]})
    )
    return Response(b"".join(frames), headers={k.decode(): v.decode() for k, v in protocol.SSE_HEADERS})


def _image_frame(url: str, phase: str, response_id: str, width: int, height: int) -> bytes:
    delta = {
        "role": "assistant",
        "content": url,
        "phase": phase,
        "extra": {"output_image_hw": [[height, width]]},
        "status": "typing",
    }
    usage = {"input_tokens": 0, "output_tokens": 0, "width": width, "height": height, "image_count": 1}
    return protocol.sse({"choices": [{"delta": delta}], "usage": usage, "response_id": response_id})


def _task_status(state: EmulatorState) -> Any:
    async def task_status(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return json_response(200, {"detail": protocol.NOT_AUTHENTICATED}, headers={ACTUAL_STATUS: "401"})
        book: MediaBook = state.media
        task = book.tasks.get(request.path_params["task_id"])
        if task is None or task.owner != str(account.index):
            body = protocol.failure("Not_Found", "Task not found")
            return json_response(200, body, headers={ACTUAL_STATUS: "404"})
        status = book.state(task)
        content = ""
        if status == "success":
            if not task.url:
                kind = f"{task.chat_type}"
                task.url = book.cdn_url(
                    str(request.base_url), f"u{account.index}", kind, task.ratio, "mp4", task.prompt
                )
            content = task.url
        data = {
            "chat_type": task.chat_type,
            "task_status": status,
            "message": "generation failed (emulated)" if status == "failed" else "",
            "content": content,
            "remaining_time": "",
            "sub_chat_type": None,
            "duration": None,
        }
        return json_response(200, {"success": True, "data": data}, headers={ACTUAL_STATUS: "200"})

    return task_status


def _cdn(state: EmulatorState) -> Any:
    async def cdn(request: Request) -> Response:
        book: MediaBook = state.media
        path = request.url.path
        if not book.key_ok(path, request.query_params.get("key", "")):
            return Response(b"AccessDenied", status_code=403, media_type="text/plain")
        ratio = path.split("/")[-2].replace("x", ":")
        seed = path.rsplit("/", 1)[-1]
        if path.endswith(".mp4"):
            return Response(media_files.mp4(5.04, seed), media_type="video/mp4")
        width, height = media_files.RATIO_PIXELS.get(ratio, (64, 64))
        return Response(media_files.png(width, height, seed), media_type="image/png")

    return cdn


def _report(state: EmulatorState) -> Any:
    async def report(request: Request) -> Response:
        book: MediaBook = state.media
        return json_response(200, book.report())

    return report


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/_emulator/media", _report(state), methods=["GET"]),
        Route("/api/v2/task/status/{task_id}", _task_status(state), methods=["GET"]),
        Route("/output/{rest:path}", _cdn(state), methods=["GET"]),
    ]
