"""Response bodies as pydantic models, for the published contract (`/openapi.json`) only.

The routes build their bodies as plain dicts (fast, and exactly the APIs' shapes); these models describe
them. Every model allows extra fields: the APIs add fields over time and clients ignore the unknown ones,
so the contract pins what a client relies on, not more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- errors ---------------------------------------------------------------------------------------------
class OpenAIErrorDetail(_Open):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(_Open):
    error: OpenAIErrorDetail


class AnthropicErrorDetail(_Open):
    type: str
    message: str


class AnthropicError(_Open):
    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None


# ---- OpenAI ---------------------------------------------------------------------------------------------
class CompletionUsage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_content: str | None = None


class CompletionChoice(_Open):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(_Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None


class OpenAIModel(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class OpenAIModelList(_Open):
    object: Literal["list"]
    data: list[OpenAIModel]


class AnthropicModel(_Open):
    type: Literal["model"]
    id: str
    display_name: str
    created_at: str


class AnthropicModelList(_Open):
    data: list[AnthropicModel]
    has_more: bool
    first_id: str | None
    last_id: str | None


# ---- Anthropic ------------------------------------------------------------------------------------------
class MessageUsage(_Open):
    input_tokens: int
    output_tokens: int


class Message(_Open):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    content: list[dict[str, Any]]
    model: str
    stop_reason: str | None
    stop_sequence: str | None
    usage: MessageUsage


class TokenCount(_Open):
    input_tokens: int


# ---- operations -----------------------------------------------------------------------------------------
class Health(_Open):
    status: Literal["ok"]
    version: str


class Listing(_Open):
    object: Literal["list"]
    data: list[dict[str, Any]]


class AccountRow(_Open):
    id: str
    name: str
    kind: str
    state: str
    reason: str | None


class ProbeResult(_Open):
    verified: bool | None
    account: AccountRow


class ReloadResult(_Open):
    source: str
    error: str | None
    accounts: int


class UsageRow(_Open):
    tenant: str
    requests: int
    input_tokens: int
    output_tokens: int
    errors: int


class UsageWindow(_Open):
    since: int
    data: list[UsageRow]


class RecentUsage(_Open):
    now: float
    hour: UsageWindow
    day: UsageWindow


class QueuesView(_Open):
    now: float
    classes: dict[str, dict[str, Any]]
    failover: dict[str, Any]


class UpstreamErrorNote(_Open):
    at: float
    account: str
    status: int
    message: str
    diagnosis: str
    hint: str
    doctor: str


class UpstreamErrors(_Open):
    object: Literal["list"]
    data: list[UpstreamErrorNote]


class DisableOptions(BaseModel):
    reason: str | None = None
    seconds: float | None = None
