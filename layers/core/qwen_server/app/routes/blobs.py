"""GET /v1/blobs/{token}: the bytes behind a signed link (generated images and videos, batch results).

The token is the credential: no API key header, so the link works in `<img src>` and a browser download.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from qwen_server.app.runtime import runtime_of
from qwen_server.blob import BlobNotFound
from qwen_server.blob.base import open_found
from qwen_server.blob.links import BadLink
from qwen_server.core.errors import NotFound


async def get_blob(request: Request) -> Response:
    blobs = await (await runtime_of(request)).blobs()
    try:
        target = await blobs.target(request.path_params["token"])
    except BadLink as exc:
        raise NotFound(str(exc), code="link_invalid") from None
    size = await blobs.store.size(target.key)
    if size is None:
        raise NotFound("the file behind this link no longer exists", code="file_not_found")
    headers = {"content-length": str(size), "cache-control": "private, max-age=300"}
    if target.filename:
        headers["content-disposition"] = f'attachment; filename="{target.filename}"'
    try:
        body = await open_found(blobs.store, target.key)
    except BlobNotFound:
        raise NotFound("the file behind this link no longer exists", code="file_not_found") from None
    return StreamingResponse(body, media_type=target.content_type, headers=headers)
