"""data: URLs and bare base64, decoded once at the API boundary."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_to_bytes


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, white space ignored; ValueError when it is not base64."""
    cleaned = "".join(text.split())
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data is not valid base64") from None


def parse_data_url(url: str) -> tuple[bytes, str | None]:
    """(bytes, declared media type or None) of a `data:` URL; ValueError when it is malformed."""
    if not url[:5].lower() == "data:":
        raise ValueError("not a data: URL")
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise ValueError("a data: URL needs a comma before its data")
    fields = [f.strip() for f in header.split(";")]
    media_type = fields[0].lower() or None
    if "base64" in (f.lower() for f in fields[1:]):
        return decode_base64(payload), media_type
    return unquote_to_bytes(payload), media_type


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"
