"""What the bytes are, from their first bytes: the type a client declares is never trusted on its own."""

from __future__ import annotations

from qwen_server.core.model import MediaKind

# (offset, magic, media type); checked in order, the first match wins
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP_AUDIO = (b"M4A ", b"M4B ")
_FTYP_IMAGE = (b"heic", b"heix", b"mif1", b"avif")

KIND_PREFIX: dict[str, MediaKind] = {"image/": "image", "audio/": "audio", "video/": "video"}

# extensions for upload file names, by media type
EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/heic": "heic",
    "image/avif": "avif",
    "application/pdf": "pdf",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/zip": "zip",
}


def sniff(data: bytes) -> str | None:
    """The media type the bytes start like; None when nothing matches (the caller decides)."""
    for offset, magic, media_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return media_type
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _FTYP_AUDIO:
            return "audio/mp4"
        if brand in _FTYP_IMAGE:
            return "image/avif" if brand == b"avif" else "image/heic"
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    return None


def is_text(data: bytes) -> bool:
    """UTF-8 text without NUL bytes (what a plain-text document is)."""
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def media_type_of(data: bytes, declared: str | None) -> str | None:
    """The sniffed type; text is taken as the declared text type (or text/plain); None: unknown bytes."""
    found = sniff(data)
    declared_base = (declared or "").split(";")[0].strip().lower()
    if found == "application/zip" and declared_base.startswith(_ZIP_CONTAINERS):
        return declared_base  # docx, xlsx, pptx, epub, odt: zip files underneath
    if found is not None:
        return found
    if is_text(data):
        declared = (declared or "").split(";")[0].strip().lower()
        return declared if declared.startswith("text/") or declared in _TEXT_LIKE else "text/plain"
    return None


_ZIP_CONTAINERS = ("application/vnd.openxmlformats", "application/epub", "application/vnd.oasis.opendocument")
_TEXT_LIKE = frozenset({"application/json", "application/xml", "application/x-yaml", "application/csv"})


def kind_of(media_type: str) -> MediaKind:
    """image/*, audio/*, video/* are what they say; everything else (pdf, text, office files) a document."""
    for prefix, kind in KIND_PREFIX.items():
        if media_type.startswith(prefix):
            return kind
    return "document"


def extension(media_type: str) -> str:
    return EXTENSIONS.get(media_type, media_type.rpartition("/")[2].split("+")[0] or "bin")
