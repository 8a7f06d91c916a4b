"""Request schemas of the OpenAI Chat Completions API (validation only; unknown fields are ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qwen_server.core import stops

MAX_STOP = 4  # OpenAI's documented ceiling for `stop`, on chat and legacy completions alike


def checked_stop(value: object) -> object:
    """`stop` within OpenAI's bounds, checked before its items are (ValueError: a 400 naming the parameter)."""
    found = stops.problem(value, MAX_STOP)
    if found:
        raise ValueError(found)
    return value


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextContentPart(_Lenient):
    type: Literal["text"]
    text: str


class ImageURL(_Lenient):
    url: str
    detail: str | None = None


class ImageContentPart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageURL | str


class InputAudio(_Lenient):
    data: str  # base64 (OpenAI) or a data: / http(s) URL (DashScope's form)
    format: str | None = None


class InputAudioContentPart(_Lenient):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Lenient):
    file_data: str | None = None  # a data: URL (or bare base64)
    file_id: str | None = None
    filename: str | None = None


class FileContentPart(_Lenient):
    type: Literal["file"]
    file: FileRef


class VideoURL(_Lenient):
    url: str


class VideoContentPart(_Lenient):
    type: Literal["video_url"]
    video_url: VideoURL | str


class OtherContentPart(_Lenient):
    type: str


ContentPart = (
    TextContentPart
    | ImageContentPart
    | InputAudioContentPart
    | FileContentPart
    | VideoContentPart
    | OtherContentPart
)


class FunctionCall(_Lenient):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(_Lenient):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    function_call: FunctionCall | None = None  # deprecated form of one tool call
    tool_call_id: str | None = None
    reasoning_content: str | None = None


class FunctionDef(_Lenient):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionDef


class StreamOptions(_Lenient):
    include_usage: bool = False


class ResponseFormat(_Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class ChatCompletionRequest(_Lenient):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)  # DashScope / vLLM extension (`extra_body`)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    n: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    repetition_penalty: float | None = Field(default=None, gt=0)  # DashScope / vLLM extension
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    enable_thinking: bool | None = None
    thinking_budget: int | None = Field(default=None, ge=1)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDef] | None = None  # deprecated: tools of type function
    function_call: str | dict[str, Any] | None = None  # deprecated: tool_choice
    response_format: ResponseFormat | None = None
    web_search_options: dict[str, Any] | None = None  # runs the web's search mode

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_limit(cls, value: object) -> object:
        return checked_stop(value)
