"""Is this gateway reachable by strangers? Then it fails closed without gateway keys.

Deployed means: on AWS Lambda, on Vercel, served by `qwen-server serve` bound to a non-loopback address
(`serve` records its `--host` in `QWEN_SERVER_BIND_HOST`), a connection that arrived on a non-loopback
local address (gunicorn or Docker, which `serve` does not start), or a request a reverse proxy passed on: on
the same host every proxied request comes from 127.0.0.1, so the forwarding headers (`X-Forwarded-For`,
`Forwarded`, `X-Real-IP`) are what tells it apart. A loopback-only local server stays open, as before, so a
developer needs no key.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

from starlette.types import Scope

BIND_HOST = "QWEN_SERVER_BIND_HOST"
FORWARDING = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


def platform() -> str | None:
    """The serverless platform this process runs on, if any."""
    if os.environ.get("VERCEL") or os.environ.get("VERCEL_REGION"):
        return "Vercel"
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "AWS Lambda"
    return None


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost resolves to who knows what: treat it as public


def exposure(scope: Scope) -> str | None:
    """Why this request counts as reaching a deployed gateway (a phrase for the 401), or None."""
    where = platform()
    if where is not None:
        return f"it runs on {where}"
    bound = os.environ.get(BIND_HOST)
    if bound and not is_loopback(bound):
        return f"it listens on {bound}"
    server = scope.get("server")
    if server and _public_ip(str(server[0])):
        return "the request arrived on a non-loopback address"
    if any(name in FORWARDING for name, _ in scope.get("headers", ())):
        return "the request came through a reverse proxy (it carries X-Forwarded-For or Forwarded)"
    return None


@lru_cache(maxsize=64)  # a server has few local addresses: parse each once, not on every request
def _public_ip(host: str) -> bool:
    """A socket's local address is an IP; a name there comes from an in-process client (tests), not a network."""
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
