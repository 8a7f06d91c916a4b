"""POST /v1/images/generations and /v1/images/edits (OpenAI's Images API)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.api.openai.media_schemas import ImageEditRequest, ImageGenerationRequest
from qwen_server.api.validation import validate
from qwen_server.app.access import admit
from qwen_server.app.disconnect import unless_client_leaves
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.routes.media_input import read_fields
from qwen_server.app.runtime import runtime_of
from qwen_server.core.errors import InvalidRequest
from qwen_server.generation import catalog
from qwen_server.generation.images import ImageOrder, make_images
from qwen_server.generation.service import Media
from qwen_server.providers.media import InputImage
from qwen_server.providers.media_sizes import ratio_of


async def generate_images(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = validate(ImageGenerationRequest, await read_json(request, runtime.settings.max_request_bytes))
    return await _answer(request, await runtime.media(), tenant, body)


async def edit_images(request: Request) -> Response:
    """The multipart edit form: one or more `image` (the first is edited; the web edits one image per
    turn), `prompt`, and `mask`, which is accepted and ignored (no upstream here takes one)."""
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("image edits are sent as multipart/form-data with an `image` file")
    fields, files = await read_fields(request, runtime.settings.max_request_bytes)
    body = validate(ImageEditRequest, fields)
    images = files.get("image") or []
    if not images:
        raise InvalidRequest("Missing required parameter: 'image'.", param="image")
    return await _answer(request, await runtime.media(), tenant, body, source=images[0])


async def _answer(
    request: Request,
    media: Media,
    tenant: str,
    body: ImageGenerationRequest | ImageEditRequest,
    source: InputImage | None = None,
) -> Response:
    """The images `body` asks for (an edit of `source` when given), as OpenAI's images response."""
    request.state.log.update(model=body.model, n=body.n)
    order = ImageOrder(
        tenant=tenant,
        model=catalog.resolve(body.model, "image"),
        prompt=body.prompt,
        n=body.n,
        ratio=ratio_of(body.size),
        response_format=body.response_format or "url",
        source=source,
    )
    return JSONBytes(
        await unless_client_leaves(request, make_images(media.runner, media.blobs, request, order))
    )
