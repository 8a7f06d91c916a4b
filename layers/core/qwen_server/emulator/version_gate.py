"""The web app's own page and scripts, and an upstream that refuses clients older than it.

- The page (`version_discovery.page` of the emulator's protocol, `/` by default) is a small HTML shell naming two
  scripts under `/static/js/`: a vendor bundle carrying a library's `version:"18.3.1"` (which a careless pattern
  would take) and the app bundle, whose request defaults carry `source:"web",version:"<V>"`, V being the version
  the emulated web app sends (the required one, else the protocol's). With `page: false` the app bundle names
  no version, so discovery finds nothing.
- With a required version (`--require-version`, or `POST /_emulator/client-version {"required": ...}` live), a
  write call (`where`: completions, and chat creation when listed) whose `version` header is older is refused
  with the old-client text, in Chinese or English (`language`), in one of three shapes (`shape`): `json` (HTTP
  200 `{"success": false, "data": {"code": "Bad_Request", "details": ...}}`), `sse` (an SSE error frame) or
  `answer` (the text as the answer, in pieces). Chat creation answers JSON whatever the shape. A version at
  least as new passes, re-labelled as the routes' own; a call without the header is left to the routes.

It sits inside `front.UpstreamFront` (behind the bot protection, after renamed paths are mapped back).
`GET /_emulator/client-version` shows the settings and counts refusals and passes per version sent.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from qwen_server.emulator import protocol as shapes
from qwen_server.providers.qwen_web import protocol

SHAPES = ("json", "sse", "answer")
LANGUAGES = ("zh", "en")
WHERE = {"completions": "/api/v2/chat/completions", "new_chat": "/api/v2/chats/new"}
SCRIPTS = "/static/js/"
PIECE = 5  # characters per answer piece, so a refusal crosses chunk boundaries


def parts(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return None


def older(sent: str, required: str) -> bool:
    """Whether `sent` is older than `required` (a version that is not dotted numbers counts as older)."""
    have, need = parts(sent), parts(required)
    return have is None or (need is not None and have < need)


class VersionGate:
    """ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, required: str | None = None, shape: str = "json", overrides: str | None = None) -> None:
        self.app = app
        spec = protocol.load(overrides, "--protocol-overrides")
        self.page_path = (spec.discovery or {}).get("page", "/")
        self.default_version = spec.version or shapes.REQUIRED_VERSION
        self.settings: dict[str, Any] = {
            "required": required,
            "shape": shape,
            "language": "zh",
            "where": ["completions"],
            "page": True,
        }
        self.refused: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.reads = {"page": 0, "scripts": 0}

    @property
    def web_version(self) -> str:
        """The version the emulated web app itself sends (what its bundle names)."""
        return str(self.settings["required"] or self.default_version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/_emulator/client-version":
            await self._control(method, receive, send)
        elif method == "GET" and path == self.page_path:
            self.reads["page"] += 1
            await _send(send, 200, "text/html; charset=utf-8", self._page())
        elif method == "GET" and path.startswith(SCRIPTS) and path.endswith(".js"):
            self.reads["scripts"] += 1
            script = self._script(path[len(SCRIPTS) :])
            if script is None:
                await _send(send, 404, "text/plain", b"Not Found")
            else:
                await _send(send, 200, "application/javascript", script)
        elif method == "POST" and path in self._gated():
            await self._gate(scope, receive, send, path)
        else:
            await self.app(scope, receive, send)

    # ---- the page and its scripts -----------------------------------------------------------------
    def _names(self) -> tuple[str, str]:
        digest = hashlib.sha256(self.web_version.encode()).hexdigest()
        return f"vendors.{digest[:8]}.js", f"umi.{digest[8:16]}.js"

    def _page(self) -> bytes:
        vendors, app = self._names()
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Qwen Chat (emulated)</title>
<link rel="stylesheet" href="/static/css/umi.css">
<script defer src="{SCRIPTS}{vendors}"></script>
<script defer src="{SCRIPTS}{app}?t=1"></script>
</head><body><div id="root"></div></body></html>
""".encode()

    def _script(self, name: str) -> bytes | None:
        vendors, app = self._names()
        if name == vendors:
            return b'/*! emulated vendor bundle */var React={version:"18.3.1"};var dayjs={version:"1.11.13"};\n'
        if name == app:
            named = f'source:"web",version:"{self.web_version}",' if self.settings["page"] else 'source:"web",'
            return (
                "/*! emulated web app bundle */(function(){var defaults={headers:{"
                + named
                + '"Content-Type":"application/json"}};window.__app__=defaults;})();\n'
            ).encode()
        return None

    # ---- the refusal ------------------------------------------------------------------------------
    def _gated(self) -> set[str]:
        if not self.settings["required"]:
            return set()
        return {WHERE[name] for name in self.settings["where"]}

    async def _gate(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        sent = next((v.decode("latin-1") for k, v in headers if k.lower() == b"version"), None)
        if sent is None:
            await self.app(scope, receive, send)  # no header at all: the routes' own answer
            return
        if older(sent, str(self.settings["required"])):
            self.refused[sent] += 1
            await self._refuse(send, json_only=path != WHERE["completions"])
            return
        self.passed[sent] += 1
        kept = [(k, v) for k, v in headers if k.lower() != b"version"]
        kept.append((b"version", shapes.REQUIRED_VERSION.encode()))
        await self.app(dict(scope, headers=kept), receive, send)

    async def _refuse(self, send: Send, *, json_only: bool) -> None:
        text = shapes.OUTDATED[self.settings["language"]]
        shape = "json" if json_only else self.settings["shape"]
        if shape == "json":
            await _send(send, 200, "application/json", orjson.dumps(shapes.failure("Bad_Request", text)))
            return
        if shape == "sse":
            body = shapes.stream_error_event("Bad_Request", text)
        else:
            response_id = "outdated-" + hashlib.sha256(text.encode()).hexdigest()[:12]
            body = shapes.created_event("", "", response_id)
            for at in range(0, len(text), PIECE):
                body += shapes.delta_event(text[at : at + PIECE], "answer", "typing", response_id, None)
            body += shapes.delta_event("", "answer", "finished", response_id, shapes.usage(1, 1))
        await _send(send, 200, "text/event-stream; charset=utf-8", body)

    # ---- control ----------------------------------------------------------------------------------
    async def _control(self, method: str, receive: Receive, send: Send) -> None:
        if method == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            problem = self._update(body)
            if problem:
                await _send(send, 400, "application/json", orjson.dumps({"error": problem}))
                return
        state = {
            **self.settings,
            "web_version": self.web_version,
            "refused": dict(self.refused),
            "passed": dict(self.passed),
            "reads": dict(self.reads),
        }
        await _send(send, 200, "application/json", orjson.dumps(state))

    def _update(self, raw: bytes) -> str | None:
        """Apply a control body; the reason it cannot be applied, or None."""
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            return "the body must be JSON"
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        checks = {
            "required": lambda v: v is None or (isinstance(v, str) and parts(v) is not None),
            "shape": lambda v: v in SHAPES,
            "language": lambda v: v in LANGUAGES,
            "where": lambda v: isinstance(v, list) and bool(v) and all(w in WHERE for w in v),
            "page": lambda v: isinstance(v, bool),
        }
        for key, value in body.items():
            if key not in checks or not checks[key](value):
                return (
                    f"{key}: expected required (dotted numbers or null), shape {SHAPES}, language {LANGUAGES}, "
                    f"where (a list of {sorted(WHERE)}) or page (true/false)"
                )
        self.settings.update(body)
        return None


async def _send(send: Send, status: int, media: str, body: bytes) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
