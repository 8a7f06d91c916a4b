"""OpenAI's Videos API: POST /v1/videos, GET /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content,
DELETE /v1/videos/{id}. A tenant sees only its own videos; any other id is a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from qwen_server.api.openai.media_schemas import VideoCreateRequest, VideoListQuery
from qwen_server.api.validation import validate
from qwen_server.app.access import admit
from qwen_server.app.auth import tenant_for
from qwen_server.app.http import JSONBytes
from qwen_server.app.routes.media_input import read_fields
from qwen_server.app.runtime import runtime_of
from qwen_server.core.errors import InvalidRequest
from qwen_server.generation import catalog
from qwen_server.generation.service import Media
from qwen_server.generation.videos import VideoOrder
from qwen_server.providers.media_sizes import OPENAI_OF_RATIO, ratio_of

DEFAULT_SIZE = "720x1280"


async def _caller(request: Request) -> tuple[Media, str]:
    """The media services and the calling tenant (its key checked first)."""
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    return await runtime.media(), tenant


async def create_video(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    fields, files = await read_fields(request, runtime.settings.max_request_bytes)
    reference = fields.pop("input_reference", None)
    body = validate(VideoCreateRequest, fields)
    sources = files.get("input_reference") or []
    if reference is not None and not sources:
        raise InvalidRequest(
            "input_reference must be an uploaded image file (multipart)", param="input_reference"
        )
    size = body.size or DEFAULT_SIZE
    ratio = ratio_of(size)
    request.state.log.update(model=body.model)
    order = VideoOrder(
        tenant=tenant,
        model=catalog.resolve(body.model, "video"),
        prompt=body.prompt,
        size=size if "x" in size else OPENAI_OF_RATIO[ratio],
        ratio=ratio,
        seconds=body.seconds,
        source=sources[0] if sources else None,
    )
    media = await runtime.media()
    job = await media.videos.create(order)
    from qwen_server.app.self_tick import nudge

    await nudge(runtime, "videos", gated=False)  # no frequent cron (Vercel Hobby): the deployment ticks itself
    return JSONBytes(job.public())


async def get_video(request: Request) -> Response:
    media, tenant = await _caller(request)
    job = await media.videos.get(tenant, request.path_params["video_id"])
    return JSONBytes(job.public())


async def list_videos(request: Request) -> Response:
    media, tenant = await _caller(request)
    query = validate(VideoListQuery, dict(request.query_params))
    page, more = await media.videos.page(tenant, after=query.after, limit=query.limit, order=query.order)
    data = [job.public() for job in page]
    return JSONBytes(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


async def delete_video(request: Request) -> Response:
    media, tenant = await _caller(request)
    video_id = request.path_params["video_id"]
    await media.videos.delete(tenant, video_id)
    return JSONBytes({"id": video_id, "object": "video.deleted", "deleted": True})


async def video_content(request: Request) -> Response:
    media, tenant = await _caller(request)
    variant = request.query_params.get("variant", "video")
    if variant != "video":
        raise InvalidRequest(f"variant {variant!r} is not available; only `video` is", param="variant")
    size, chunks = await media.videos.content(tenant, request.path_params["video_id"])

    async def body() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(), media_type="video/mp4", headers={"content-length": str(size), "cache-control": "private"}
    )
