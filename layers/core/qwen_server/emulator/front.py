"""What stands in front of the emulated API: protocol drift, the bot protection and the sign-in page.

- Protocol drift: `--protocol-overrides` patches the emulator's own copy of `protocol.json`, so the upstream
  can rename a path or demand another `version` header, as the real one does without notice. Renamed paths
  are served under their new name only; the version header must be the new one.
- Bot protection (`--waf`, or `POST /_emulator/waf {"mode": ...}` live):
  `off`; `page` (every API call answers Alibaba's WAF page); `captcha` (JSON `FAIL_SYS_USER_VALIDATE` /
  `RGV587_ERROR` with a slider-captcha URL); `cookie` (calls without a valid `acw_sc__v2` cookie get a
  challenge page whose script computes it, sets it and reloads, as Alibaba's does). In `cookie` mode answers
  also set `acw_tc`, and the emulator counts the calls that send it back (`GET /_emulator/waf`).
- The sign-in page (`paths.signin_page`, `/auth`): a form whose script sends the password's SHA-256 to the
  sign-in endpoint, which sets the `token` cookie (what `qwen-server login` drives in a browser).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qwen_server.emulator import protocol as shapes
from qwen_server.providers.qwen_web import protocol

WAF_MODES = ("off", "page", "captcha", "cookie")
XOR_KEY = "3000176000856006061501533003690027800375"  # the key the challenge script XORs arg1 with
CAPTCHA_BODY = {
    "api": "mtop.qwen.chat",
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::the system is busy, please try again later"],
    "data": {"url": "/_____tmd_____/punish?x5secdata=emulated&x5step=1"},
}


def solve(arg1: str) -> str:
    """The challenge script's answer for `arg1`: its bytes XOR the key, in hex (the page does this in JS)."""
    return "".join(
        f"{int(arg1[i : i + 2], 16) ^ int(XOR_KEY[i : i + 2], 16):02x}" for i in range(0, len(arg1), 2)
    )


def challenge_page(arg1: str) -> bytes:
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>aliyun_waf</title></head><body>
<script>
var arg1 = '{arg1}';
var key = '{XOR_KEY}';
var out = '';
for (var i = 0; i < arg1.length; i += 2) {{
  var x = (parseInt(arg1.substr(i, 2), 16) ^ parseInt(key.substr(i, 2), 16)).toString(16);
  out += x.length < 2 ? '0' + x : x;
}}
document.cookie = 'acw_sc__v2=' + out + '; path=/';
location.reload();
</script></body></html>
""".encode()


def signin_page(signin_path: str) -> bytes:
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in - Qwen Chat (emulated)</title></head><body>
<form id="signin">
  <input type="email" name="email" id="email" placeholder="Email">
  <input type="password" name="password" id="password" placeholder="Password">
  <button type="submit">Sign in</button>
</form>
<p id="status"></p>
<script>
async function sha256hex(text) {{
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
}}
document.getElementById('signin').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const body = {{email: document.getElementById('email').value,
                 password: await sha256hex(document.getElementById('password').value)}};
  const answer = await fetch('{signin_path}', {{method: 'POST', credentials: 'include',
    headers: {{'content-type': 'application/json'}}, body: JSON.stringify(body)}});
  document.getElementById('status').textContent = answer.ok ? 'signed in' : 'refused';
}});
</script></body></html>
""".encode()


def _prefix(template: str) -> tuple[str, bool]:
    """A path template's fixed part, and whether it has a placeholder."""
    head, brace, _ = template.partition("{")
    return head, bool(brace)


class UpstreamFront:
    """ASGI middleware in front of the emulator's routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, overrides: str | None = None, waf: str = "off") -> None:
        self.app = app
        self.spec = protocol.load(overrides, "--protocol-overrides")
        base = protocol.load(None)
        self.renames: list[tuple[str, str, bool]] = []  # (new, canonical, templated)
        for name, canonical in base.data["paths"].items():
            new = self.spec.data["paths"].get(name, canonical)
            if new != canonical:
                new_head, templated = _prefix(new)
                old_head, _ = _prefix(canonical)
                self.renames.append((new_head, old_head, templated))
        self.version = self.spec.version
        self.canonical_version = base.version
        self.mode = waf
        self._secret = os.urandom(16)
        self.tc = hmac.new(self._secret, b"acw_tc", hashlib.sha256).hexdigest()[:32]
        self.counts = {"challenged": 0, "passed": 0, "acw_tc_returned": 0, "blocked": 0}

    # ---- protocol drift ---------------------------------------------------------------------------
    def _canonical(self, path: str) -> str | None:
        """The route path a request path stands for; None when it uses a name the upstream dropped."""
        for new_head, old_head, templated in self.renames:
            if path == new_head or (templated and path.startswith(new_head)):
                return old_head + path[len(new_head) :]
        exact = {p for p in self.spec.data["paths"].values() if "{" not in p}
        for _new, old_head, templated in self.renames:
            if path == old_head or (templated and path.startswith(old_head) and path not in exact):
                return None
        return path

    # ---- bot protection ---------------------------------------------------------------------------
    def _arg1(self) -> str:
        nonce = secrets.token_hex(10)
        return nonce + hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:20]

    def _valid(self, answer: str) -> bool:
        if len(answer) != len(XOR_KEY):
            return False
        try:
            arg1 = solve(answer)  # XOR is its own inverse
        except ValueError:
            return False
        nonce, mac = arg1[:20], arg1[20:]
        expected = hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:20]
        return hmac.compare_digest(mac, expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/_emulator/waf":
            await self._control(scope, receive, send)
            return
        if path.startswith(("/_emulator/", "/oss/", "/compatible-mode/")):  # control routes; OSS and
            # DashScope's compatible mode are other hosts upstream
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        if self.mode == "page":
            self.counts["blocked"] += 1
            await _send(send, 200, "text/html", shapes.WAF_HTML)
            return
        if self.mode == "captcha":
            self.counts["blocked"] += 1
            await _send(send, 200, "application/json", orjson.dumps(CAPTCHA_BODY))
            return
        extra: list[tuple[bytes, bytes]] = []
        if self.mode == "cookie":
            if not self._valid(cookies.get("acw_sc__v2", "")):
                self.counts["challenged"] += 1
                await _send(send, 200, "text/html", challenge_page(self._arg1()))
                return
            self.counts["passed"] += 1
            if cookies.get("acw_tc") == self.tc:
                self.counts["acw_tc_returned"] += 1
            extra.append((b"set-cookie", f"acw_tc={self.tc}; Path=/; Max-Age=1800; HttpOnly".encode()))
        page_path = urlsplit(self.spec.path("signin_page")).path
        if path == page_path and scope["method"] == "GET":
            await _send(send, 200, "text/html", signin_page(self.spec.path("signin")), extra)
            return
        canonical = self._canonical(path)
        if canonical is None:
            await _send(send, 404, "application/json", b'{"detail": "Not Found"}', extra)
            return
        scope = dict(scope, path=canonical, raw_path=canonical.encode())
        scope["headers"] = self._versioned(scope["headers"])
        await self.app(scope, receive, _adding(send, extra))

    def _versioned(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The request's `version` header as the routes know it: the version in force becomes the routes'
        own, any other value (the one the upstream dropped included) becomes no header."""
        canonical = self.canonical_version
        if self.version == canonical:
            return headers
        kept = [(k, v) for k, v in headers if k.lower() != b"version"]
        sent = next((v for k, v in headers if k.lower() == b"version"), None)
        if sent is not None and self.version is not None and sent.decode() == self.version and canonical:
            kept.append((b"version", canonical.encode()))
        return kept

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                mode = orjson.loads(body or b"{}").get("mode")
            except (orjson.JSONDecodeError, AttributeError):
                mode = None
            if mode not in WAF_MODES:
                await _send(send, 400, "application/json", orjson.dumps({"error": f"mode: one of {WAF_MODES}"}))
                return
            self.mode = mode
        state: dict[str, Any] = {"mode": self.mode, **self.counts, "version": self.version}
        await _send(send, 200, "application/json", orjson.dumps(state))


def _cookies(scope: Scope) -> dict[str, str]:
    jar: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key.lower() == b"cookie":
            for piece in value.decode("latin-1").split(";"):
                name, _, rest = piece.strip().partition("=")
                if name:
                    jar[name] = rest
    return jar


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    if not extra:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message, headers=[*message.get("headers", []), *extra])
        await send(message)

    return wrapped


async def _send(
    send: Send, status: int, media: str, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
