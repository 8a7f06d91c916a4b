"""Pure: small but valid PNG and MP4 files, made in code, for the emulator's CDN route.

The PNG is a real RGB image (its size follows the requested ratio, its colour the prompt's hash); the MP4 is
an ISO base media file with `ftyp`, `moov` (a movie header stating the duration) and `mdat` boxes, enough for
a client to recognise an MP4 and read its length, without a decodable picture track.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

RATIO_PIXELS: dict[str, tuple[int, int]] = {  # (width, height) of the emulated images, by web ratio
    "1:1": (64, 64),
    "16:9": (96, 54),
    "9:16": (54, 96),
    "4:3": (80, 60),
    "3:4": (60, 80),
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(width: int, height: int, seed: str) -> bytes:
    """A width x height RGB PNG filled with a colour derived from `seed`, with a diagonal stripe."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type None
        for x in range(width):
            row += bytes((255 - r, 255 - g, 255 - b)) if abs(x - y) < 3 else bytes((r, g, b))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds: float, seed: str) -> bytes:
    """An MP4 container whose movie header says `seconds` long (timescale 1000)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mvhd = _box(
        b"mvhd",
        struct.pack(">B3xIIII", 0, 0, 0, 1000, int(seconds * 1000))
        + struct.pack(">IH", 0x00010000, 0x0100)
        + b"\x00" * 10
        + struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
        + b"\x00" * 24
        + struct.pack(">I", 2),
    )
    mdat = _box(b"mdat", hashlib.sha256(seed.encode()).digest() * 8)
    return ftyp + _box(b"moov", mvhd) + mdat
