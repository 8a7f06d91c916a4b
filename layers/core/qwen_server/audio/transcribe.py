"""`/v1/audio/transcriptions` and `/v1/audio/translations`: the upload checked, a neutral chat request that
hands the clip to an audio-capable model with a verbatim instruction, and the answer in every format.

The request goes through the gateway's chat pipeline like any other (the `media` class), so each account
kind receives the clip its own way: `input_audio` for DashScope (`qwen3-asr-flash`) and OpenAI-compatible
upstreams, an uploaded file for web accounts. No upstream gives timestamps this way, so srt, vtt and
verbose_json carry one segment spanning the whole clip, whose length is read from the decoded audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from qwen_server.audio import catalog
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ChatRequest, MediaPart, Message, TextPart
from qwen_server.providers.base import Account

Task = Literal["transcribe", "translate"]
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
# file extension -> media type sent upstream
MEDIA_TYPES: dict[str, str] = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mpga": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    task: Task
    model: str
    upstream_model: str
    audio: bytes
    filename: str
    media_type: str
    language: str | None
    prompt: str | None
    temperature: float | None
    response_format: str
    stream: bool


def max_file_bytes() -> int:
    return int(catalog.table()["transcription"]["max_file_bytes"])


def parse(task: Task, form: Any) -> TranscriptionRequest:
    """The multipart form (Starlette's `FormData`) checked field by field."""
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise InvalidRequest("Missing required parameter: 'file' (a multipart file upload).", param="file")
    filename = str(getattr(upload, "filename", "") or "audio")
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    allowed = catalog.table()["transcription"]["extensions"]
    if extension not in allowed:
        raise InvalidRequest(
            f"Unsupported file format {extension or filename!r}. Supported formats: {allowed}",
            param="file",
            code="unsupported_format",
        )
    model = form.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    fmt = form.get("response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"Unsupported response_format {fmt!r}; use one of {', '.join(RESPONSE_FORMATS)}.",
            param="response_format",
        )
    temperature: float | None = None
    if form.get("temperature") not in (None, ""):
        try:
            temperature = float(form["temperature"])
        except ValueError:
            raise InvalidRequest("'temperature' must be a number.", param="temperature") from None
        if not 0.0 <= temperature <= 1.0:
            raise InvalidRequest("'temperature' must be between 0 and 1.", param="temperature")
    stream = str(form.get("stream") or "false").lower()
    if stream not in ("true", "false"):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    granularities = [*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities")]
    if "word" in granularities:
        raise InvalidRequest(
            "Word timestamps are not available: the upstreams give none. verbose_json carries one segment "
            "spanning the clip.",
            param="timestamp_granularities",
        )
    language = form.get("language") or None
    prompt = form.get("prompt") or None
    return TranscriptionRequest(
        task=task,
        model=model,
        upstream_model=catalog.model_for("transcription", model),
        audio=b"",  # read by the caller (`with_audio`), after the cheap checks
        filename=filename,
        media_type=MEDIA_TYPES[extension],
        language=str(language) if language else None,
        prompt=str(prompt) if prompt else None,
        temperature=temperature,
        response_format=str(fmt),
        stream=stream == "true",
    )


def check_size(size: int) -> None:
    limit = max_file_bytes()
    if size == 0:
        raise InvalidRequest("The uploaded file is empty.", param="file", code="empty_file")
    if size > limit:
        raise InvalidRequest(
            f"The uploaded file is {size} bytes; the limit is {limit} bytes (25 MB).",
            param="file",
            code="file_too_large",
        )


def is_asr_name(name: str) -> bool:
    """A transcription alias or the ASR model itself: the gateway picks what serves it per account kind."""
    section = catalog.table()["transcription"]
    return name in section["aliases"] or name == section["default_model"]


def pick_model(asr: str, accounts: list[Account], audio_models: list[str]) -> str:
    """Where a transcription goes: the ASR model when a DashScope or OpenAI-compatible account may serve it;
    with only web accounts, a model their listing marks as taking audio, else the catalogue's web model."""
    if any(a.kind != "qwen-web" and (a.models is None or asr in a.models) for a in accounts):
        return asr
    web = [a for a in accounts if a.kind == "qwen-web"]
    if not web:
        return asr
    served = [m for m in audio_models if any(a.models is not None and m in a.models for a in web)]
    return served[0] if served else str(catalog.table()["transcription"]["web_model"])


def chat_request(request: TranscriptionRequest, tenant: str) -> ChatRequest:
    """The clip and the instruction as a neutral chat request."""
    wording = catalog.table()["transcription"]["instructions"]
    instruction = [wording[request.task]]
    if request.language and request.task == "transcribe":
        instruction.append(wording["language"].format(language=request.language))
    if request.prompt:
        instruction.append(wording["prompt"].format(prompt=request.prompt))
    clip = MediaPart(
        kind="audio",
        data=request.audio,
        media_type=request.media_type,
        filename=request.filename,
        param="file",
    )
    return ChatRequest(
        model=request.upstream_model,
        messages=[
            Message(role="system", parts=[TextPart(" ".join(instruction))]),
            Message(role="user", parts=[clip]),
        ],
        stream=request.stream,
        temperature=request.temperature,
        tenant=tenant,
    )


# ---- answers ----------------------------------------------------------------------------------------


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(text: str, duration: float) -> str:
    return f"1\n{_stamp(0.0, ',')} --> {_stamp(duration, ',')}\n{text}\n\n" if text else ""


def vtt(text: str, duration: float) -> str:
    body = f"{_stamp(0.0, '.')} --> {_stamp(duration, '.')}\n{text}\n\n" if text else ""
    return "WEBVTT\n\n" + body


def verbose(request: TranscriptionRequest, text: str, duration: float) -> dict[str, Any]:
    segments = (
        [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": round(duration, 3),
                "text": text,
                "tokens": [],
                "temperature": request.temperature or 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            }
        ]
        if text
        else []
    )
    language = request.language if request.task == "transcribe" else "english"
    return {
        "task": request.task,
        "language": language or "unknown",
        "duration": round(duration, 3),
        "text": text,
        "segments": segments,
    }
