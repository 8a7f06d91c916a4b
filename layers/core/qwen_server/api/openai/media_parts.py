"""OpenAI content parts that carry media → `MediaPart`s (bytes decoded here, URLs kept for the fetcher).

- `image_url`: a data: URL (decoded) or an http(s) URL; `detail` is kept.
- `input_audio`: `data` is base64 with `format` (wav, mp3, ...), or, as DashScope accepts, a data: or
  http(s) URL.
- `file`: `file_data` (a data: URL, or bare base64 with `filename`) or `file_id` (the Files API).
- `video_url`: DashScope's video part, a data: or http(s) URL.
Malformed base64 is a 400 naming the part.
"""

from __future__ import annotations

from qwen_server.api.openai.schemas import (
    FileContentPart,
    ImageContentPart,
    InputAudioContentPart,
    VideoContentPart,
)
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart
from qwen_server.media import datauri

AUDIO_FORMATS = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "webm": "audio/webm",
    "pcm16": "audio/pcm",
}

MediaContentPart = ImageContentPart | InputAudioContentPart | FileContentPart | VideoContentPart


def _by_url(kind: MediaKind, url: str, param: str, detail: str | None = None) -> MediaPart:
    if datauri.is_data_url(url):
        try:
            data, media_type = datauri.parse_data_url(url)
        except ValueError as exc:
            raise InvalidRequest(f"malformed data: URL: {exc}", param=param) from None
        return MediaPart(kind=kind, data=data, media_type=media_type, detail=detail, param=param)
    return MediaPart(kind=kind, url=url, detail=detail, param=param)


def _base64(text: str, param: str) -> bytes:
    try:
        return datauri.decode_base64(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param) from None


def to_media(part: MediaContentPart, param: str) -> MediaPart:
    if isinstance(part, ImageContentPart):
        image = part.image_url
        if isinstance(image, str):
            return _by_url("image", image, f"{param}.image_url")
        return _by_url("image", image.url, f"{param}.image_url.url", image.detail)
    if isinstance(part, InputAudioContentPart):
        audio = part.input_audio
        where = f"{param}.input_audio.data"
        if audio.data.startswith(("data:", "http://", "https://")):
            return _by_url("audio", audio.data, where)
        declared = AUDIO_FORMATS.get((audio.format or "").lower())
        return MediaPart(kind="audio", data=_base64(audio.data, where), media_type=declared, param=where)
    if isinstance(part, VideoContentPart):
        video = part.video_url
        if isinstance(video, str):
            return _by_url("video", video, f"{param}.video_url")
        return _by_url("video", video.url, f"{param}.video_url.url")
    ref = part.file
    if ref.file_id:
        return MediaPart(
            kind="document", file_id=ref.file_id, filename=ref.filename, param=f"{param}.file.file_id"
        )
    if not ref.file_data:
        raise InvalidRequest("a file part needs file_data or file_id", param=f"{param}.file")
    where = f"{param}.file.file_data"
    if datauri.is_data_url(ref.file_data):
        media = _by_url("document", ref.file_data, where)
    else:
        media = MediaPart(kind="document", data=_base64(ref.file_data, where), param=where)
    media.filename = ref.filename
    return media
