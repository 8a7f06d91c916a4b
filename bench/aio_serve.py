"""Serve an aiohttp app on loopback on uvloop when installed, as uvicorn serves the gateway: same loop, fair race."""

from __future__ import annotations

import asyncio

from aiohttp import web


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the standard loop is only slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(app: web.Application, port: int) -> None:
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=new_loop())
