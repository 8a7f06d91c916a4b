"""What each route reads besides a JSON body described by a model: query parameters, the header that picks
Anthropic's shapes, multipart form fields, and the JSON bodies the routes check by hand. `contract.py` turns
them into `/openapi.json`, so a client, the docs and the contract test's fuzzer see every input a route takes.

Ranges and choices are the ones the routes enforce, so a generated value outside them must come back a 4xx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Route = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    where: Literal["query", "header"] = "query"


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _choice(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _object(required: tuple[str, ...], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": fields}


_TEXT: dict[str, Any] = {"type": "string"}
_FILE: dict[str, Any] = {"type": "string", "format": "binary"}
_ORDER = _choice("asc", "desc")
# `anthropic-version` (or `anthropic-beta`) switches the Files and model routes to Anthropic's shapes and errors
ANTHROPIC = Param("anthropic-version", _choice("2023-06-01"), "header")
_ANTHROPIC_PAGE = (Param("before_id", _TEXT), Param("after_id", _TEXT))

PARAMS: dict[Route, tuple[Param, ...]] = {
    ("GET", "/v1/models"): (ANTHROPIC,),
    ("GET", "/v1/models/{model_id}"): (ANTHROPIC,),
    ("GET", "/v1/files"): (
        ANTHROPIC,
        Param("purpose", _TEXT),
        Param("limit", _int(1, 1000)),  # OpenAI's shape takes up to 10000
        Param("after", _TEXT),
        Param("order", _ORDER),
        *_ANTHROPIC_PAGE,
        Param("page", _TEXT),
    ),
    ("POST", "/v1/files"): (ANTHROPIC,),
    ("GET", "/v1/files/{file_id}"): (ANTHROPIC,),
    ("DELETE", "/v1/files/{file_id}"): (ANTHROPIC,),
    ("GET", "/v1/files/{file_id}/content"): (ANTHROPIC,),
    ("GET", "/v1/batches"): (Param("limit", _int(1, 100)), Param("after", _TEXT)),
    ("GET", "/v1/messages/batches"): (Param("limit", _int(1, 1000)), *_ANTHROPIC_PAGE),
    ("GET", "/v1/videos"): (Param("after", _TEXT), Param("limit", _int(1, 100)), Param("order", _ORDER)),
    ("GET", "/v1/videos/{video_id}/content"): (Param("variant", _choice("video")),),
    ("GET", "/v1/responses/{response_id}/input_items"): (
        Param("limit", _int(1, 100)),
        Param("order", _ORDER),
        Param("after", _TEXT),
    ),
}

_IMAGE_FIELDS: dict[str, dict[str, Any]] = {
    "model": _TEXT,
    "prompt": {"type": "string", "minLength": 1, "maxLength": 4000},
    "n": _int(1, 4),
    "size": _TEXT,
    "response_format": _choice("url", "b64_json"),
    "quality": _TEXT,
    "style": _TEXT,
    "user": _TEXT,
}
_VIDEO_FIELDS: dict[str, dict[str, Any]] = {
    "model": _TEXT,
    "prompt": {"type": "string", "minLength": 1, "maxLength": 4000},
    "size": _TEXT,
    "seconds": _int(1, 20),
}
_AUDIO_FIELDS: dict[str, dict[str, Any]] = {
    "file": _FILE,
    "model": {"type": "string", "minLength": 1},
    "prompt": _TEXT,
    "response_format": _choice("json", "text", "srt", "verbose_json", "vtt"),
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "stream": {"type": "boolean"},
}

FORMS: dict[Route, dict[str, Any]] = {
    ("POST", "/v1/files"): _object(
        ("file",),
        {
            "file": _FILE,
            "purpose": _choice("assistants", "batch", "evals", "fine-tune", "user_data", "vision"),
            "expires_after[anchor]": _choice("created_at"),
            "expires_after[seconds]": _int(3600, 2592000),
        },
    ),
    ("POST", "/v1/images/edits"): _object(
        ("image", "prompt"), {"image": _FILE, "mask": _FILE, **_IMAGE_FIELDS}
    ),
    ("POST", "/v1/videos"): _object(("prompt",), {"input_reference": _FILE, **_VIDEO_FIELDS}),
    ("POST", "/v1/audio/transcriptions"): _object(
        ("file", "model"),
        {
            **_AUDIO_FIELDS,
            "language": _TEXT,
            "timestamp_granularities[]": {"type": "array", "items": _choice("segment")},
        },
    ),
    ("POST", "/v1/audio/translations"): _object(("file", "model"), _AUDIO_FIELDS),
}

_SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
_METADATA = {"type": "object", "maxProperties": 16, "additionalProperties": {"type": "string"}}

# JSON bodies the routes check field by field rather than with a model (`Contract.request` names the models)
BODIES: dict[Route, dict[str, Any]] = {
    ("POST", "/v1/audio/speech"): _object(
        ("model", "input"),
        {
            "model": {"type": "string", "minLength": 1},
            "input": {"type": "string", "minLength": 1},
            "voice": _TEXT,
            "response_format": _choice(*_SPEECH_FORMATS),
            "speed": {"type": "number", "minimum": 0.25, "maximum": 4},
            "instructions": _TEXT,
            "stream_format": _choice("audio", "sse"),
        },
    ),
    ("POST", "/v1/embeddings"): {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string", "minLength": 1},
            "input": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "array", "items": {"type": "integer"}},
                    },
                ]
            },
            "dimensions": {"type": "integer", "minimum": 1},
            "encoding_format": _choice("float", "base64"),
            "user": _TEXT,
        },
    },
    ("POST", "/v1/batches"): {
        "type": "object",
        "required": ["input_file_id", "endpoint", "completion_window"],
        "properties": {
            "input_file_id": {"type": "string", "minLength": 1},
            "endpoint": _choice("/v1/chat/completions", "/v1/completions", "/v1/embeddings"),
            "completion_window": _choice("24h"),
            "metadata": _METADATA,
        },
    },
    ("POST", "/v1/messages/batches"): {
        "type": "object",
        "required": ["requests"],
        "properties": {
            "requests": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["custom_id", "params"],
                    "properties": {
                        "custom_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "params": {"type": "object"},
                    },
                },
            }
        },
    },
}

# What a 200 answer may be besides the contract's own content type (the schema: any text or bytes)
ANSWERS: dict[Route, tuple[str, ...]] = {
    ("POST", "/v1/audio/speech"): (
        "audio/mpeg",
        "audio/ogg",
        "audio/aac",
        "audio/flac",
        "audio/wav",
        "audio/pcm",
    ),
    ("POST", "/v1/audio/transcriptions"): ("text/plain", "text/vtt"),
    ("POST", "/v1/audio/translations"): ("text/plain", "text/vtt"),
}

# OpenAPI links: the `id` a creating route answers is the path parameter of the routes that read, change or
# delete what it made (clients follow them; so does the contract test's stateful phase)
LINKS: dict[Route, tuple[Route, ...]] = {
    ("POST", "/v1/files"): (
        ("GET", "/v1/files/{file_id}"),
        ("GET", "/v1/files/{file_id}/content"),
        ("DELETE", "/v1/files/{file_id}"),
    ),
    ("POST", "/v1/batches"): (("GET", "/v1/batches/{batch_id}"), ("POST", "/v1/batches/{batch_id}/cancel")),
    ("POST", "/v1/messages/batches"): (
        ("GET", "/v1/messages/batches/{batch_id}"),
        ("GET", "/v1/messages/batches/{batch_id}/results"),
        ("POST", "/v1/messages/batches/{batch_id}/cancel"),
        ("DELETE", "/v1/messages/batches/{batch_id}"),
    ),
    ("POST", "/v1/videos"): (
        ("GET", "/v1/videos/{video_id}"),
        ("GET", "/v1/videos/{video_id}/content"),
        ("DELETE", "/v1/videos/{video_id}"),
    ),
    ("POST", "/v1/responses"): (
        ("GET", "/v1/responses/{response_id}"),
        ("GET", "/v1/responses/{response_id}/input_items"),
        ("DELETE", "/v1/responses/{response_id}"),
    ),
}
