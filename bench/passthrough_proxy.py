"""A pass-through HTTP proxy with no logic: the floor any Python gateway can reach on this machine.

python bench/passthrough_proxy.py --port 8200 --upstream http://127.0.0.1:8100

Every request is forwarded as it came (method, path, query, body, content-type and authorization) over one
pooled aiohttp client session, and the upstream's answer is streamed back chunk by chunk as it arrives.
No parsing, no auth, no accounting: whatever a gateway does beyond this is its own cost.
"""

from __future__ import annotations

import argparse

from aio_serve import serve
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

FORWARDED = ("content-type", "authorization", "accept")
ANSWERED = ("content-type", "cache-control")


def build(upstream: str) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        connector = TCPConnector(limit=0, keepalive_timeout=60)
        app["session"] = ClientSession(upstream, connector=connector, timeout=ClientTimeout(total=120))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        session: ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        async with session.request(
            request.method, request.rel_url, data=await request.read(), headers=headers
        ) as upstream_response:
            response = web.StreamResponse(
                status=upstream_response.status,
                headers={k: v for k, v in upstream_response.headers.items() if k.lower() in ANSWERED},
            )
            await response.prepare(request)
            async for chunk in upstream_response.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8100")
    args = parser.parse_args()
    serve(build(args.upstream), args.port)


if __name__ == "__main__":
    main()
