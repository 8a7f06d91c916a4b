"""What the pool hands out and takes back: a `Choice` (an account slot for one attempt) and the `Outcome` that
attempt had; and where the accounts come from. The pool, its held slots and its callers share these."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from qwen_server.core.errors import GatewayError
from qwen_server.providers.base import Account

Verifier = Callable[[Account], Awaitable[None]]  # raises UpstreamAuthError when the credential is refused


@dataclass(slots=True)
class Outcome:
    """How one attempt on one account went."""

    ok: bool
    error: GatewayError | None = None
    ttft: float | None = None  # seconds to first event
    tokens_per_s: float | None = None
    duration: float | None = None


@dataclass(slots=True)
class Choice:
    account: Account
    model: str
    started: float = field(default_factory=time.time)
    holder: str = ""  # the concurrency lease this attempt holds
    session_id: str | None = None
    recorded: bool = False
    deferred: bool = False  # recorded, its slot still held for the caller to free (`deferred_release`)


class AccountSource(Protocol):
    """Where the accounts come from (`AccountRegistry`, or a list in tests)."""

    def accounts(self) -> list[Account]: ...
