"""Request schemas of OpenAI's Images and Videos APIs (validation only; unknown fields are ignored).

`quality`, `style`, `background`, `output_format`, `moderation` and `user` are accepted in any value and have
no effect: no upstream here has those controls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qwen_server.core.numbers import whole_number


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageGenerationRequest(_Lenient):
    model: str | None = None
    prompt: str = Field(min_length=1, max_length=4000)
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: str | None = None  # ignored
    style: str | None = None  # ignored
    user: str | None = None


class ImageEditRequest(ImageGenerationRequest):
    """The text fields of the multipart edit form (the images come as files)."""

    @field_validator("n", mode="before")
    @classmethod
    def _form_int(cls, value: object) -> object:
        number = whole_number(value) if isinstance(value, str) else None
        return value if number is None else number


class VideoCreateRequest(_Lenient):
    model: str | None = None
    prompt: str = Field(min_length=1, max_length=4000)
    size: str | None = None
    seconds: int = Field(default=4, ge=1, le=20)

    @field_validator("seconds", mode="before")
    @classmethod
    def _form_int(cls, value: object) -> object:
        number = whole_number(value) if isinstance(value, str) else None
        return value if number is None else number


class VideoListQuery(_Lenient):
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
