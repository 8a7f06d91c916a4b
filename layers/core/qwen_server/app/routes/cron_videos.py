"""/internal/cron/videos: one pass of the video worker (advance jobs nobody polls, store finished videos,
expire old ones), for schedulers that call a URL: Vercel's cron (GET with `Authorization: Bearer
$CRON_SECRET`), and the AWS schedule, which comes in through the function's own handler with a token only
that process knows (`generation.schedule`). Without `CRON_SECRET` the route is closed (403) to the outside."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import runtime_of
from qwen_server.core.errors import AuthenticationFailed, PermissionDenied
from qwen_server.generation.schedule import INTERNAL_HEADER, INTERNAL_TOKEN


async def videos_tick(request: Request) -> Response:
    from qwen_server.app.self_tick import cron_authorised, is_self_call
    from qwen_server.app.tick_passes import later, videos_pass

    runtime = await runtime_of(request)
    internal = request.headers.get(INTERNAL_HEADER, "")
    if internal and hmac.compare_digest(internal.encode("latin-1", "replace"), INTERNAL_TOKEN.encode()):
        return JSONBytes(await videos_pass(runtime, keep_going=False))
    secret = runtime.settings.cron_secret
    if not secret:
        raise PermissionDenied("the cron route is disabled: set CRON_SECRET to use it", code="cron_disabled")
    if not cron_authorised(request, secret):
        raise AuthenticationFailed("the cron route needs `Authorization: Bearer $CRON_SECRET`")
    if is_self_call(request):
        later(runtime, "videos")
        return JSONBytes({"started": True}, status_code=202)
    return JSONBytes(await videos_pass(runtime, keep_going=False))
