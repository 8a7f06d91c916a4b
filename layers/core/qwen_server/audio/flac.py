"""A small streaming FLAC writer: 16-bit mono PCM in, a valid FLAC stream out, frame by frame.

Every subframe is VERBATIM (FLAC's uncompressed coding), so the encoder is a few table lookups per byte and
needs no codec library; the file is about the size of the WAV, and lossless as FLAC always is. The stream is
written as it goes, so STREAMINFO says "total samples unknown" (0), as the format allows for streams; decoders
count the frames. Layout and CRCs as in RFC 9639.
"""

from __future__ import annotations

import sys
from array import array

BLOCK = 4096  # samples per frame (block size code 0b1100)
SAMPLE_BYTES = 2


def _crc8_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


CRC8 = _crc8_table()
CRC16 = _crc16_table()
RATE_CODES = {8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10, 96000: 11}


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = CRC8[crc ^ byte]
    return crc


def crc16(data: bytes) -> int:
    crc = 0
    table = CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def coded_number(value: int) -> bytes:
    """The frame number in FLAC's UTF-8-like coding (up to 36 bits)."""
    if value < 0x80:
        return bytes([value])
    for length in range(2, 8):
        if value < 1 << (5 * length + 1):
            out = bytearray()
            for _ in range(length - 1):
                out.insert(0, 0x80 | (value & 0x3F))
                value >>= 6
            out.insert(0, ((0xFF << (8 - length)) & 0xFF) | value)
            return bytes(out)
    raise ValueError("frame number too large for FLAC")


def stream_header(rate: int) -> bytes:
    """`fLaC` and the one metadata block, STREAMINFO (sizes and totals unknown, no MD5)."""
    info = bytearray()
    info += BLOCK.to_bytes(2, "big") * 2  # min and max block size (the last frame may be shorter: allowed)
    info += b"\x00" * 6  # min and max frame size: unknown
    # 20 bits rate, 3 bits channels-1 (mono: 0), 5 bits bits-per-sample-1 (15), 36 bits total samples (0)
    packed = (rate << 44) | (0 << 41) | (15 << 36) | 0
    info += packed.to_bytes(8, "big")
    info += b"\x00" * 16  # MD5: not computed
    return b"fLaC" + bytes([0x80, 0, 0, len(info)]) + bytes(info)


def frame(samples: bytes, number: int, rate: int) -> bytes:
    """One frame of little-endian s16 mono `samples` (at most BLOCK of them)."""
    count = len(samples) // SAMPLE_BYTES
    rate_code = RATE_CODES.get(rate, 0)  # 0: "as in STREAMINFO"
    size_code, tail = (0b1100, b"") if count == BLOCK else (0b0111, (count - 1).to_bytes(2, "big"))
    header = bytes([0xFF, 0xF8, (size_code << 4) | rate_code, 0x08]) + coded_number(number) + tail
    header += bytes([crc8(header)])
    body = array("h")
    body.frombytes(samples[: count * SAMPLE_BYTES])
    if sys.byteorder == "little":
        body.byteswap()  # FLAC stores samples big-endian
    out = header + b"\x02" + body.tobytes()  # subframe header: VERBATIM, no wasted bits
    return out + crc16(out).to_bytes(2, "big")


class FlacWriter:
    """PCM pieces in, FLAC bytes out as whole frames fill up; `close` writes the last (shorter) frame."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._pending = bytearray()
        self._frames = 0
        self._started = False

    def feed(self, pcm: bytes) -> bytes:
        self._pending += pcm
        out = bytearray()
        if not self._started:
            self._started = True
            out += stream_header(self.rate)
        whole = BLOCK * SAMPLE_BYTES
        while len(self._pending) >= whole:
            out += frame(bytes(self._pending[:whole]), self._frames, self.rate)
            del self._pending[:whole]
            self._frames += 1
        return bytes(out)

    def close(self) -> bytes:
        out = b"" if self._started else stream_header(self.rate)
        self._started = True
        if len(self._pending) >= SAMPLE_BYTES:
            out += frame(bytes(self._pending), self._frames, self.rate)
            self._frames += 1
        self._pending.clear()
        return out
