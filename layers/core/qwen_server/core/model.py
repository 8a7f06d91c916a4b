"""The neutral request and stream-event model shared by every API flavour and every upstream.

Each API (OpenAI, Anthropic) maps its request *into* `ChatRequest` and maps `Event`s *out*; each upstream
provider consumes a `ChatRequest` and yields `Event`s. Nothing in between knows which API or upstream is on
either side. Plain dataclasses keep this hot path cheap (no validation after the API schema did it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from qwen_server.core.tenants import KEYLESS_TENANT

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


MediaKind = Literal["image", "audio", "video", "document"]


@dataclass(slots=True)
class MediaPart:
    """An image, audio clip, video or document in a message, as the client gave it.

    Exactly one source is set: `data` (bytes sent inline: a data: URL, base64, an upload), `url` (http(s),
    read only through the guarded fetcher or handed to an upstream that fetches it itself), or `file_id`
    (the gateway's Files API). `param` names where in the request the part came from, so a refusal can say
    which part it refuses. Web accounts upload the bytes; native upstreams get the part as is."""

    kind: MediaKind
    url: str | None = None
    data: bytes | None = None
    file_id: str | None = None
    media_type: str | None = None
    filename: str | None = None
    detail: str | None = None
    param: str = ""
    type: Literal["media"] = "media"


Part = TextPart | MediaPart


@dataclass(slots=True)
class ToolCall:
    """A call the assistant made (in history) or makes (in output)."""

    id: str
    name: str
    arguments: str  # JSON text, as the model produced it (after repair)


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # for role == "tool": which call this answers
    name: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatRequest:
    """What the gateway asks an upstream for, independent of API flavour."""

    model: str
    messages: list[Message]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None  # DashScope's (and vLLM's) multiplicative penalty
    logprobs: bool = False
    top_logprobs: int | None = None
    thinking: bool = False
    thinking_budget: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None  # "auto" | "none" | "required" | {"name": ...}
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None  # OpenAI's {"type": "json_object" | "json_schema", ...}
    user: str | None = None
    session_id: str | None = None
    tenant: str = KEYLESS_TENANT
    extra: dict[str, Any] = field(default_factory=dict)


# ---- events -------------------------------------------------------------------------------------------


class TopLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TypedDict):
    """One sampled token's log probability, in OpenAI's shape (so it reaches the client unchanged)."""

    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


@dataclass(slots=True)
class TextDelta:
    text: str
    logprobs: list[TokenLogprob] | None = None  # only from upstreams that report them, when asked
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingDelta:
    text: str
    kind: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    kind: Literal["tool_call_start"] = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    kind: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(slots=True)
class ToolCallEnd:
    index: int
    kind: Literal["tool_call_end"] = "tool_call_end"


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    kind: Literal["usage"] = "usage"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


FinishReason = Literal["stop", "length", "tool_calls", "stop_sequence", "content_filter"]


@dataclass(slots=True)
class Finish:
    reason: FinishReason = "stop"
    stop_sequence: str | None = None
    kind: Literal["finish"] = "finish"


@dataclass(slots=True)
class Flush:
    """The upstream has nothing more for now (a provider says so after each network read): a writer that
    gathered the events since the last `Flush` may send them as one write. Writers that never see one send
    every event as it comes."""

    kind: Literal["flush"] = "flush"


FLUSH = Flush()


@dataclass(slots=True)
class SearchSource:
    """One web page a search found (what the web's `web_search` phase lists)."""

    url: str
    title: str = ""
    snippet: str = ""
    hostname: str = ""
    date: str = ""  # as the upstream gave it (a date or an age), "" when unknown


@dataclass(slots=True)
class SearchCall:
    """The upstream ran a web search with these queries (a server-side tool call, not the client's)."""

    id: str
    queries: list[str]
    kind: Literal["search_call"] = "search_call"


@dataclass(slots=True)
class SearchResults:
    """What the search `id` found; `Citation.number` counts through every result of the answer, from 1."""

    id: str
    sources: list[SearchSource]
    kind: Literal["search_results"] = "search_results"


@dataclass(slots=True)
class Citation:
    """The text just before this point is backed by source `number` (1-based, in arrival order)."""

    number: int
    source: SearchSource
    kind: Literal["citation"] = "citation"


Event = (
    TextDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Finish
    | Flush
    | SearchCall
    | SearchResults
    | Citation
)
