"""The network between a client and the emulated upstream: a round-trip time, and a log of every call.

- `--rtt S` (live: `POST /_emulator/rtt {"seconds": S}`): every API call waits S seconds before it is
  handled, as if the upstream were that far away (one round trip per call: request there, answer back; a
  stream's later pieces follow at the emulated pace). Benchmarks compare the gateway's first token with the
  one-call floor under a real distance this way.
- `GET /_emulator/requests`: the calls received since the start (or the last `POST /_emulator/reset`), in
  order of arrival: `{"requests": [{"seq", "method", "route", "chat_id"}], "counts": {"POST /api/...": n}}`.
  A route is the path with ids replaced by `{id}`; `chat_id` is the query's, when there is one. Tests count
  the upstream calls an answer costs with it.

Calls to `/_emulator/*` are neither delayed nor logged.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, deque
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

LOG_LIMIT = 20_000
_ID = re.compile(r"/(?=[0-9a-zA-Z_-]*\d)[0-9a-zA-Z_-]{12,}(?=/|$)")


def route_of(path: str) -> str:
    """The path with its ids (long segments holding a digit) replaced by `{id}`."""
    return _ID.sub("/{id}", path)


class Network:
    """The round-trip time in force and the log of calls (one per emulator, in its state)."""

    def __init__(self, rtt: float = 0.0) -> None:
        self.rtt = rtt
        self.entries: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.counts: Counter[str] = Counter()
        self.seq = 0

    def note(self, method: str, path: str, query: bytes) -> None:
        route = f"{method} {route_of(path)}"
        self.seq += 1
        chat_id = parse_qs(query.decode("latin-1")).get("chat_id", [None])[0]
        self.entries.append({"seq": self.seq, "method": method, "route": route, "chat_id": chat_id})
        self.counts[route] += 1

    def clear(self) -> None:
        self.entries.clear()
        self.counts.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"requests": list(self.entries), "counts": dict(self.counts)}


class NetworkMiddleware:
    """ASGI middleware, outermost: logs each API call, then holds it for the round-trip time."""

    def __init__(self, app: ASGIApp, network: Network) -> None:
        self.app = app
        self.network = network

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator/"):
            self.network.note(scope["method"], scope["path"], scope.get("query_string", b""))
            if self.network.rtt > 0:
                await asyncio.sleep(self.network.rtt)
        await self.app(scope, receive, send)
