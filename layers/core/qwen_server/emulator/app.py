"""Build the emulator's Starlette app from a config: state plus the three groups of routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from qwen_server.emulator import (
    routes_auth,
    routes_chat,
    routes_compatible,
    routes_control,
    routes_dashscope,
    routes_dashscope_tts,
    routes_files,
    routes_generation,
    routes_media,
)
from qwen_server.emulator.config import EmulatorConfig
from qwen_server.emulator.front import UpstreamFront
from qwen_server.emulator.network import NetworkMiddleware
from qwen_server.emulator.state import EmulatorState
from qwen_server.emulator.version_gate import VersionGate

_DROP_MESSAGE = "ASGI callable returned without completing response"


class _QuietDrops(logging.Filter):
    """Drops and hangs are deliberate here: keep uvicorn from logging each one as an application error.

    A dropped stream ends without completing its response; a hang still open at shutdown is cancelled.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(_DROP_MESSAGE):
            return False
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    logger = logging.getLogger("uvicorn.error")
    quiet = _QuietDrops()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def build_app(config: EmulatorConfig) -> Starlette:
    """The ASGI app; `app.state.emulator` is the `EmulatorState` (for in-process tests)."""
    state = EmulatorState(config)
    app = Starlette(
        routes=[
            *routes_auth.routes(state),
            *routes_chat.routes(state),
            *routes_control.routes(state),
            *routes_files.routes(state),
            *routes_media.routes(state),
            *routes_generation.routes(state),
            *routes_dashscope.routes(state),
            *routes_dashscope_tts.routes(state),
            *routes_compatible.routes(state),
        ],
        lifespan=_lifespan,
        middleware=[
            Middleware(NetworkMiddleware, network=state.network),
            Middleware(UpstreamFront, overrides=config.protocol_overrides, waf=config.waf),
            Middleware(
                VersionGate,
                required=config.require_version,
                shape=config.outdated_shape,
                overrides=config.protocol_overrides,
            ),
        ],
    )
    app.state.emulator = state
    return app
