"""The one interface every upstream implements, and the account record it is given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from qwen_server.core.model import ChatRequest, Event

ProviderKind = Literal["qwen-web", "openai", "dashscope"]


@dataclass(frozen=True, slots=True)
class Account:
    """One upstream credential. Secrets never appear in `repr` (and so never in logs)."""

    id: str
    kind: ProviderKind
    base_url: str = field(repr=False)  # may carry credentials in its userinfo: `public()` shows it without
    name: str
    email: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    max_concurrent: int = 4
    models: tuple[str, ...] | None = None  # None: whatever the upstream lists
    # a signed-in browser's session (qwen-web): its WAF cookies, its bx-* headers and its user agent
    cookies: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    user_agent: str | None = None
    browser_login: bool = False  # may `qwen-server login` refresh the session when the WAF refuses it

    def public(self) -> dict[str, Any]:
        """What may be shown in metrics: never a secret (the base URL without its user name and password)."""
        from qwen_server.core.sanitise import url_without_credentials

        shown = url_without_credentials(self.base_url)
        return {"id": self.id, "name": self.name, "kind": self.kind, "base_url": shown}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    owned_by: str = "qwen"
    created: int = 0
    capabilities: tuple[str, ...] = ()
    max_context_length: int | None = None


class Provider(Protocol):
    """Yields neutral events for one request on one account; raises `GatewayError`s only."""

    native_tools: bool
    """True: the upstream takes `tools`, `tool_choice`, `response_format` and logprobs itself and answers with
    native tool calls, so the gateway adds no tool prompt and parses no `<tool_call>` text for it."""

    def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        """Events of the answer (an async generator). Errors before the first event may be retried elsewhere."""
        ...

    async def list_models(self, account: Account) -> list[ModelInfo]: ...

    async def verify(self, account: Account) -> None:
        """A cheap check of the credential alone; raises `UpstreamAuthError` only when it is refused.

        A chat call's 401/403 may be about the model or the request (`UpstreamForbidden`); this settles
        whether the account itself is at fault. Other failures (timeouts, WAF pages) raise other errors."""
        ...
