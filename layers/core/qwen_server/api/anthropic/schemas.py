"""Request schemas of Anthropic's Messages API (validation only; unknown fields are ignored).

Content blocks are a union discriminated by `type`; a block type this gateway cannot map is kept as
`OtherBlock` so the mapping can refuse it with a message naming the type (a pydantic union error would
name nothing useful). Field names follow Anthropic's API reference.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from qwen_server.core import stops

# Anthropic documents no ceiling for `stop_sequences`; OpenAI and Mistral take 4, Gemini 16. Stop sequences
# are markers, so 16 leaves room for any real client while a request cannot bring a flood of them.
MAX_STOP_SEQUENCES = 16


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _tag(value: Any, known: tuple[str, ...]) -> str:
    """The discriminator: the block's `type` when it is one we model, else "other"."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in known else "other"


# ---- content blocks ------------------------------------------------------------------------------------


class TextBlock(_Lenient):
    type: Literal["text"]
    text: str


class Base64Source(_Lenient):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(_Lenient):
    type: Literal["url"]
    url: str


class OtherSource(_Lenient):
    """`file` (Files API: `file_id`) and sources added later, which the mapping refuses by name."""

    type: str
    file_id: str | None = None


ImageSource = Annotated[
    Annotated[Base64Source, Tag("base64")]
    | Annotated[URLSource, Tag("url")]
    | Annotated[OtherSource, Tag("other")],
    Discriminator(lambda v: _tag(v, ("base64", "url"))),
]


class ImageBlock(_Lenient):
    type: Literal["image"]
    source: ImageSource


class TextSource(_Lenient):
    type: Literal["text"]
    data: str
    media_type: str = "text/plain"


class ContentSource(_Lenient):
    """A "custom content" document: its own text (and image) blocks."""

    type: Literal["content"]
    content: list[TextBlock | ImageBlock] | str


DocumentSource = Annotated[
    Annotated[TextSource, Tag("text")]
    | Annotated[ContentSource, Tag("content")]
    | Annotated[Base64Source, Tag("base64")]
    | Annotated[URLSource, Tag("url")]
    | Annotated[OtherSource, Tag("other")],
    Discriminator(lambda v: _tag(v, ("text", "content", "base64", "url"))),
]


class DocumentBlock(_Lenient):
    type: Literal["document"]
    source: DocumentSource
    title: str | None = None
    context: str | None = None


class ToolUseBlock(_Lenient):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


class OtherBlock(_Lenient):
    """Any block type the mapping does not translate (it refuses them by name)."""

    type: str


ToolResultContent = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(lambda v: _tag(v, ("text", "image", "document"))),
]


class ToolResultBlock(_Lenient):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: list[ToolResultContent] | str = ""
    is_error: bool = False


class ThinkingBlock(_Lenient):
    type: Literal["thinking"]
    thinking: str = ""
    signature: str | None = None


class RedactedThinkingBlock(_Lenient):
    type: Literal["redacted_thinking"]
    data: str = ""


_BLOCK_TAGS = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking")


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(lambda v: _tag(v, _BLOCK_TAGS)),
]


class InputMessage(_Lenient):
    # "system" turns inside `messages` are accepted as recent SDKs can send them
    role: Literal["user", "assistant", "system"]
    content: list[ContentBlock] | str


# ---- request options -----------------------------------------------------------------------------------


class ToolDef(_Lenient):
    """A client tool. Anthropic-defined and server tools carry a versioned `type` instead of a schema."""

    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None
    # the web search server tool's options (`web_search_20250305` and later)
    max_uses: int | None = Field(default=None, ge=1)
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None


class ToolChoice(_Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class ThinkingEnabled(_Lenient):
    type: Literal["enabled"]
    budget_tokens: int = Field(ge=1024)
    display: Literal["summarized", "omitted"] | None = None


class ThinkingAdaptive(_Lenient):
    # "between_tools" (recent SDKs) is taken as adaptive: think, with no fixed budget
    type: Literal["adaptive", "between_tools"]
    display: Literal["summarized", "omitted"] | None = None


class ThinkingDisabled(_Lenient):
    type: Literal["disabled"]


ThinkingConfig = Annotated[ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled, Field(discriminator="type")]


class Metadata(_Lenient):
    user_id: str | None = None


class JSONOutputFormat(_Lenient):
    """Structured output: the answer must be JSON valid against `schema` (`output_config.format`, or the
    beta's top-level `output_format`)."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Lenient):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JSONOutputFormat | None = None


class CountTokensRequest(_Lenient):
    """The input half of a request: what `/v1/messages/count_tokens` accepts."""

    model: str = Field(min_length=1)
    messages: list[InputMessage] = Field(min_length=1)
    system: list[TextBlock] | str | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    output_format: JSONOutputFormat | None = None  # the structured-outputs beta's spelling

    @field_validator("tool_choice")
    @classmethod
    def _named_choice(cls, value: ToolChoice | None) -> ToolChoice | None:
        if value is not None and value.type == "tool" and not value.name:
            raise ValueError('tool_choice of type "tool" needs a name')
        return value


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None

    @field_validator("stop_sequences", mode="before")
    @classmethod
    def _stop_limit(cls, value: object) -> object:
        found = stops.problem(value, MAX_STOP_SEQUENCES)
        if found:
            raise ValueError(found)
        return value
