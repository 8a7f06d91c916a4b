"""A local stand-in for Vercel Blob's REST API, as its documentation and SDKs describe it, for the Vercel
Blob backend's tests. Run as its own process:

    python tests/vercel_blob_server.py --port PORT --token TOKEN

- `PUT /api/blob/?pathname=P` stores the body (`x-content-type`; an existing pathname needs
  `x-allow-overwrite: 1`, else 400; `x-add-random-suffix: 1` appends a suffix; `x-vercel-blob-access`
  private or public) and answers `{url, downloadUrl, pathname, contentType, contentDisposition, etag}`.
- `POST /api/blob/mpu?pathname=P` with `x-mpu-action`: `create` -> `{key, uploadId}`; `upload` (with
  `x-mpu-key`, `x-mpu-upload-id`, `x-mpu-part-number`) -> `{etag}`; `complete` (a JSON list of
  `{partNumber, etag}`) -> the PUT answer. Every part but the last must be at least 5 MiB (400 otherwise).
- `GET /api/blob/?url=P-or-URL` -> the metadata (`size`, `url`, ...), 404 when absent.
- `POST /api/blob/delete` `{"urls": [...]}` removes pathnames or URLs (absent ones are fine).
- `GET /store/<pathname>` is a blob's URL: private blobs need the bearer token (403 without).
Every API call needs `authorization: Bearer TOKEN` (403) and `x-api-version` (400). `GET /_stats` counts.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MIN_PART = 5 * 1024 * 1024


@dataclass
class Blob:
    data: bytes
    content_type: str
    access: str
    uploaded: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.data).hexdigest() + '"'


def build(token: str) -> Starlette:
    blobs: dict[str, Blob] = {}
    uploads: dict[str, dict[int, bytes]] = {}
    stats = {"put": 0, "mpu_parts": 0, "head": 0, "download": 0, "delete": 0, "list": 0}

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    def refused(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {token}":
            return error(403, "forbidden", "Access denied, please provide a valid token for this resource.")
        if not request.headers.get("x-api-version"):
            return error(400, "bad_request", "missing x-api-version")
        return None

    def url_of(request: Request, pathname: str) -> str:
        return f"{request.base_url}store/{quote(pathname)}"

    def pathname_of(request: Request, target: str) -> str:
        prefix = f"{request.base_url}store/"
        return unquote(target[len(prefix) :]) if target.startswith(prefix) else target

    def described(request: Request, pathname: str, blob: Blob) -> dict[str, object]:
        url = url_of(request, pathname)
        return {
            "url": url,
            "downloadUrl": f"{url}?download=1",
            "pathname": pathname,
            "contentType": blob.content_type,
            "contentDisposition": f'inline; filename="{pathname.rsplit("/", 1)[-1]}"',
            "etag": blob.etag,
        }

    def store(request: Request, data: bytes) -> JSONResponse:
        pathname = request.query_params.get("pathname", "")
        if not pathname:
            return error(400, "bad_request", "pathname is required")
        if request.headers.get("x-add-random-suffix") == "1":
            stem, dot, ext = pathname.rpartition(".")
            pathname = f"{stem}-{secrets.token_hex(4)}{dot}{ext}" if dot else f"{pathname}-{secrets.token_hex(4)}"
        if pathname in blobs and request.headers.get("x-allow-overwrite") != "1":
            return error(400, "bad_request", "This blob already exists, use `allowOverwrite: true`.")
        blob = Blob(
            data,
            request.headers.get("x-content-type", "application/octet-stream"),
            request.headers.get("x-vercel-blob-access", "public"),
        )
        blobs[pathname] = blob
        return JSONResponse(described(request, pathname, blob))

    async def api(request: Request) -> Response:
        if (bad := refused(request)) is not None:
            return bad
        if request.method == "PUT":
            stats["put"] += 1
            return store(request, await request.body())
        target = request.query_params.get("url")
        if target is None:
            return listing(request)
        stats["head"] += 1
        pathname = pathname_of(request, target)
        blob = blobs.get(pathname)
        if blob is None:
            return error(404, "not_found", "The requested blob does not exist")
        return JSONResponse(
            {
                **described(request, pathname, blob),
                "size": len(blob.data),
                "uploadedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(blob.uploaded)),
                "cacheControl": "public, max-age=2592000",
            }
        )

    def listing(request: Request) -> JSONResponse:
        """`GET /?prefix=&limit=&cursor=`: blobs by pathname order, a page at a time."""
        stats["list"] += 1
        prefix = request.query_params.get("prefix", "")
        limit = int(request.query_params.get("limit", "1000"))
        after = request.query_params.get("cursor", "")
        names = sorted(name for name in blobs if name.startswith(prefix) and name > after)
        page = names[:limit]
        more = len(names) > limit
        found = [{**described(request, name, blobs[name]), "size": len(blobs[name].data)} for name in page]
        return JSONResponse({"blobs": found, "cursor": page[-1] if more else None, "hasMore": more})

    async def mpu(request: Request) -> Response:
        if (bad := refused(request)) is not None:
            return bad
        action = request.headers.get("x-mpu-action")
        if action == "create":
            upload_id = secrets.token_hex(8)
            uploads[upload_id] = {}
            return JSONResponse({"key": request.query_params.get("pathname", ""), "uploadId": upload_id})
        parts = uploads.get(request.headers.get("x-mpu-upload-id", ""))
        if parts is None:
            return error(400, "bad_request", "unknown upload")
        if action == "upload":
            stats["mpu_parts"] += 1
            data = await request.body()
            parts[int(request.headers.get("x-mpu-part-number", "0"))] = data
            return JSONResponse({"etag": '"' + hashlib.md5(data).hexdigest() + '"'})
        if action == "complete":
            listed = await request.json()
            numbers = [p["partNumber"] for p in listed]
            if numbers != list(range(1, len(numbers) + 1)) or any(
                '"' + hashlib.md5(parts[p["partNumber"]]).hexdigest() + '"' != p["etag"] for p in listed
            ):
                return error(400, "bad_request", "parts do not match the upload")
            if any(len(parts[n]) < MIN_PART for n in numbers[:-1]):
                return error(400, "bad_request", "every part but the last must be at least 5 MiB")
            return store(request, b"".join(parts.pop(n) for n in numbers))
        return error(400, "bad_request", f"unknown x-mpu-action {action!r}")

    async def delete(request: Request) -> Response:
        if (bad := refused(request)) is not None:
            return bad
        stats["delete"] += 1
        for target in (await request.json())["urls"]:
            blobs.pop(pathname_of(request, target), None)
        return Response(status_code=200)

    async def download(request: Request) -> Response:
        stats["download"] += 1
        pathname = request.path_params["pathname"]
        blob = blobs.get(pathname)
        if blob is None:
            return Response("Not Found", status_code=404)
        if blob.access == "private" and request.headers.get("authorization") != f"Bearer {token}":
            return Response("Forbidden", status_code=403)
        return Response(blob.data, media_type=blob.content_type, headers={"etag": blob.etag})

    async def counts(request: Request) -> Response:
        return JSONResponse({**stats, "blobs": len(blobs), "open_uploads": len(uploads)})

    return Starlette(
        routes=[
            Route("/api/blob/", api, methods=["GET", "PUT"]),
            Route("/api/blob/mpu", mpu, methods=["POST"]),
            Route("/api/blob/delete", delete, methods=["POST"]),
            Route("/store/{pathname:path}", download, methods=["GET"]),
            Route("/_stats", counts, methods=["GET"]),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.token), host="127.0.0.1", port=args.port, log_level="warning")
