"""Build the emulator's Starlette app from a config: state plus the three groups of routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from qwen_server.emulator import routes_auth, routes_chat, routes_control
from qwen_server.emulator.config import EmulatorConfig
from qwen_server.emulator.state import EmulatorState

_DROP_MESSAGE = "ASGI callable returned without completing response"


class _QuietDrops(logging.Filter):
    """Dropped connections are deliberate here: keep uvicorn from logging each one as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_DROP_MESSAGE)


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
        routes=[*routes_auth.routes(state), *routes_chat.routes(state), *routes_control.routes(state)],
        lifespan=_lifespan,
    )
    app.state.emulator = state
    return app
