"""What the steps of one account share: its client, its session, what earlier steps learned.

Calls go through the gateway's own transport and header builder, with the protocol in force, so the doctor
sees what the gateway's requests would see. Every call records its status for the report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from qwen_server.core.errors import UpstreamError as TransportError
from qwen_server.core.errors import UpstreamTimeout
from qwen_server.doctor.observe import Failure
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web import protocol
from qwen_server.providers.qwen_web.headers import build_headers
from qwen_server.providers.qwen_web.jar import parse_set_cookies
from qwen_server.providers.qwen_web.outdated import Finding
from qwen_server.providers.transport import Reply, Upstream


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Context:
    account: Account
    client: Upstream
    model: str
    timeout: float
    anti_bot: dict[str, str] = field(default_factory=dict)
    user_agent: str | None = None
    extra: Any = None  # a provider, for account kinds the doctor drives through the gateway's own code
    version: str | None = None  # the client version the gateway sends this origin (learned ones included)
    version_source: str = ""
    finding: Finding | None = None  # what the web app's page named, once a refusal made the doctor look
    token: str | None = None
    chat_id: str | None = None
    response_id: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    chats: list[str] = field(default_factory=list)
    last: tuple[int | None, str | None] = (None, None)  # (HTTP status, x-actual-status-code) of the last call
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.cookies = dict(self.account.cookies)
        self.token = self.account.token

    def headers(self, *, chat_id: str | None = None, stream: bool = False) -> dict[str, str]:
        return build_headers(
            self.account.base_url,
            token=self.token,
            chat_id=chat_id,
            stream=stream,
            user_agent=self.account.user_agent or self.user_agent,
            anti_bot={**self.anti_bot, **dict(self.account.headers)},
            cookies=self.cookies,
            version=self.version,
        )

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        chat_id: str | None = None,
        stream: bool = False,
        query: str = "",
    ) -> Answer:
        """One call to the account's upstream; a timeout or a connection failure is a `Failure`."""
        url = self.account.base_url + path + (f"?{query}" if query else "")
        content = orjson.dumps(body) if body is not None else None
        headers = self.headers(chat_id=chat_id, stream=stream)
        self.last = (None, None)
        try:
            async with asyncio.timeout(self.timeout):
                reply: Reply = await self.client.fetch(method, url, headers=headers, content=content)
        except (TimeoutError, UpstreamTimeout):
            raise Failure(f"timeout after {self.timeout:.0f} s", "timeout") from None
        except TransportError as exc:
            raise Failure(exc.message, "connect") from None
        kept, gone = parse_set_cookies(reply.set_cookies)
        self.cookies.update(kept)
        for name in gone:
            self.cookies.pop(name, None)
        self.last = (reply.status, reply.headers.get("x-actual-status-code"))
        return Answer(reply.status, reply.headers, reply.body)

    async def put(self, url: str, headers: dict[str, str], content: bytes) -> Answer:
        """A `PUT` to another origin (the upload's storage), with the same time limit and failure kinds."""
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self.client.fetch("PUT", url, headers=headers, content=content)
        except (TimeoutError, UpstreamTimeout):
            raise Failure(f"timeout after {self.timeout:.0f} s", "timeout") from None
        except TransportError as exc:
            raise Failure(exc.message, "connect") from None
        self.last = (reply.status, reply.headers.get("x-actual-status-code"))
        return Answer(reply.status, reply.headers, reply.body)

    def path(self, name: str, **params: str) -> str:
        return protocol.current().path(name, **params)
