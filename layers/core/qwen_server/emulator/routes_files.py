"""File uploads as the web app makes them: `getstsToken`, the signed OSS PUT, document parse and status.

- `POST /api/v2/files/getstsToken` (and `/api/v1/...`) `{filename, filesize, filetype}` → STS credentials,
  `file_path`, `file_id`, and a `file_url` on this emulator (`/oss/<bucket>/<file_path>?x-oss-...`), so the
  client's PUT comes here. A missing or unknown `filetype`: `Bad_Request "Invalid file information!"`.
- `PUT /oss/<bucket>/<key>`: the signature is checked (`oss.verify`) with the credentials issued for that
  key; a wrong one is 403 `SignatureDoesNotMatch` (XML, as OSS answers). `--oss-v1-only` refuses V4.
- `POST /api/v2/files/parse` `{file_id}` starts parsing an uploaded document; `POST .../parse/status`
  `{file_id_list}` answers `running` on its first poll, `success` after.
- `GET /_emulator/files`: per-account counters and every stored file's digest.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator import oss, protocol
from qwen_server.emulator.files import BUCKET, FILETYPES, REGION
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

Endpoint = Callable[[Request], Awaitable[Response]]
INVALID_FILE = "Invalid file information!"


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _ok(data: Any) -> Response:
    return json_response(200, {"success": True, "request_id": str(uuid.uuid4()), "data": data})


def _sts(state: EmulatorState) -> Endpoint:
    async def sts(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        body = await _json_body(request)
        filename = body.get("filename") if body else None
        size = body.get("filesize") if body else None
        size = int(size) if isinstance(size, str) and size.isdigit() else size
        filetype = body.get("filetype") if body else None
        if (
            not isinstance(filename, str)
            or not filename
            or "/" in filename
            or not isinstance(size, int)
            or size <= 0
            or filetype not in FILETYPES
        ):
            return json_response(200, protocol.failure("Bad_Request", INVALID_FILE))
        base = str(request.base_url).rstrip("/")
        stored = state.files.issue(account.index, filename, size, str(filetype), base)
        return _ok(
            {
                "access_key_id": stored.access_key_id,
                "access_key_secret": stored.access_key_secret,
                "security_token": stored.security_token,
                "file_url": stored.file_url,
                "file_path": stored.key,
                "file_id": stored.file_id,
                "bucketname": BUCKET,
                "region": REGION,
                "endpoint": request.url.netloc,
            }
        )

    return sts


def _put(state: EmulatorState) -> Endpoint:
    async def put(request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        request_id = uuid.uuid4().hex.upper()[:24]
        stored = None
        try:
            stored = state.files.by_access_key.get(oss.access_key_of(headers.get("authorization", "")))
            if stored is None:
                raise oss.OssRefusal(
                    "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist."
                )
            if bucket != BUCKET or key != stored.key:
                raise oss.OssRefusal("AccessDenied", "The credentials do not allow writing this object.")
            if headers.get("x-oss-security-token") != stored.security_token:
                raise oss.OssRefusal(
                    "InvalidAccessKeyId", "The security token is missing or not the one issued."
                )
            if stored.expires_at <= state.files.clock():
                raise oss.OssRefusal("SecurityTokenExpired", "The security token has expired.")
            oss.verify(
                "PUT", bucket, key, headers, stored.access_key_secret, accept_v4=not state.config.oss_v1_only
            )
        except oss.OssRefusal as refusal:
            if stored is not None:
                state.files.counts[stored.account]["puts_refused"] += 1
            return Response(
                oss.error_xml(refusal.code, refusal.message, request_id),
                status_code=403,
                media_type="application/xml",
                headers={"x-oss-request-id": request_id},
            )
        stored.data = await request.body()
        stored.content_type = headers.get("content-type", "application/octet-stream").split(";")[0]
        state.files.counts[stored.account]["puts"] += 1
        return Response(
            b"",
            status_code=200,
            headers={"x-oss-request-id": request_id, "etag": f'"{stored.sha256[:32].upper()}"'},
        )

    return put


def _parse(state: EmulatorState) -> Endpoint:
    async def parse(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        body = await _json_body(request)
        stored = state.files.owned(account.index, str((body or {}).get("file_id") or ""))
        if stored is None or stored.data is None:
            return json_response(200, protocol.failure("Not_Found", "File not found"))
        stored.parse = "running"
        state.files.counts[account.index]["parses"] += 1
        return _ok({"file_id": stored.file_id, "status": "running"})

    return parse


def _parse_status(state: EmulatorState) -> Endpoint:
    async def parse_status(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        body = await _json_body(request)
        ids = (body or {}).get("file_id_list")
        if not isinstance(ids, list) or not ids:
            return json_response(200, protocol.failure("Bad_Request", "file_id_list is required"))
        rows = []
        state.files.counts[account.index]["status_polls"] += 1
        for file_id in ids:
            stored = state.files.owned(account.index, str(file_id))
            if stored is None or stored.parse == "none":
                rows.append({"file_id": file_id, "status": "failed"})
                continue
            stored.polls += 1
            if stored.parse == "running" and stored.polls > 1:
                stored.parse = "success"
            rows.append({"file_id": file_id, "status": stored.parse})
        return _ok(rows)

    return parse_status


def _files_view(state: EmulatorState) -> Endpoint:
    async def files_view(request: Request) -> Response:
        return json_response(200, state.files.snapshot([a.email for a in state.accounts.all]))

    return files_view


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/api/v2/files/getstsToken", _sts(state), methods=["POST"]),
        Route("/api/v1/files/getstsToken", _sts(state), methods=["POST"]),
        Route("/oss/{bucket}/{key:path}", _put(state), methods=["PUT"]),
        Route("/api/v2/files/parse", _parse(state), methods=["POST"]),
        Route("/api/v2/files/parse/status", _parse_status(state), methods=["POST"]),
        Route("/_emulator/files", _files_view(state), methods=["GET"]),
    ]
