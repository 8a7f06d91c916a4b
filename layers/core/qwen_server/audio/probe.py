"""How long an uploaded clip is, read from its own structure without a codec library: WAV (the data chunk,
capped by the bytes really there), MP3 (every frame walked and counted), FLAC (STREAMINFO's total, or its
frames counted when a stream left it 0) and Ogg (the last page's granule position: Opus after its pre-skip,
Vorbis at its own rate). Headers that merely claim a length (Xing, ID3) are not trusted. Other containers
answer None, and `codec.probe` asks PyAV when it is installed.
"""

from __future__ import annotations

import struct

from qwen_server.audio.flac import crc8

# MPEG audio: bitrates (kbit/s) by [version is MPEG-1][layer], sample rates by version
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
_FLAC_RATES = {1: 88200, 2: 176400, 3: 192000, 4: 8000, 5: 16000, 6: 22050, 7: 24000, 8: 32000, 9: 44100,
               10: 48000, 11: 96000}  # fmt: skip


def duration(data: bytes) -> tuple[float, int, int] | None:
    """(seconds, sample rate, channels) of a WAV, MP3, FLAC or Ogg clip; None for other containers."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if data[:4] == b"fLaC":
        return _flac(data)
    if data[:4] == b"OggS":
        return _ogg(data)
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return _mp3(data)
    return None


def _wav(data: bytes) -> tuple[float, int, int] | None:
    at, rate, channels, block = 12, 0, 0, 0
    while at + 8 <= len(data):
        name, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if name == b"fmt " and size >= 16:
            _, channels, rate, _, block = struct.unpack_from("<HHIIH", data, at + 8)
        elif name == b"data" and rate and block:
            present = min(size, len(data) - at - 8)
            return present // block / rate, rate, channels
        at += 8 + size + (size & 1)
    return None


def _mp3(data: bytes) -> tuple[float, int, int] | None:
    at = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2: syncsafe size
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        at = 10 + size + (10 if data[5] & 0x10 else 0)
    samples, rate, channels, frames = 0, 0, 1, 0
    while at + 4 <= len(data):
        head = struct.unpack_from(">I", data, at)[0]
        parsed = _mp3_frame(head)
        if parsed is None:
            at += 1  # resynchronise (junk between frames)
            continue
        length, frame_samples, frame_rate, frame_channels = parsed
        if at + length > len(data) + 1:
            break  # a cut-off last frame
        side = at + 4 + (2 if not head & 0x10000 else 0)
        info = data[side : side + 40]
        if not (frames == 0 and (b"Xing" in info or b"Info" in info)):  # the VBR header frame holds no audio
            samples += frame_samples
            frames += 1
        rate, channels = frame_rate, frame_channels
        at += length
    return (samples / rate, rate, channels) if samples and rate else None


def _mp3_frame(head: int) -> tuple[int, int, int, int] | None:
    """(length in bytes, samples, rate, channels) of the frame this header starts, or None."""
    if head >> 21 != 0x7FF:
        return None
    version, layer_bits = (head >> 19) & 3, (head >> 17) & 3
    bitrate_index, rate_index = (head >> 12) & 0xF, (head >> 10) & 3
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    padding = (head >> 9) & 1
    channels = 1 if (head >> 6) & 3 == 3 else 2
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, rate, channels
    per_frame = 1152 if layer == 2 or mpeg1 else 576
    return per_frame // 8 * bitrate // rate + padding, per_frame, rate, channels


def _flac(data: bytes) -> tuple[float, int, int] | None:
    at = 4
    rate = channels = total = 0
    while at + 4 <= len(data):
        header = data[at]
        size = int.from_bytes(data[at + 1 : at + 4], "big")
        if header & 0x7F == 0 and size >= 18:  # STREAMINFO
            packed = int.from_bytes(data[at + 14 : at + 22], "big")
            rate, channels, total = packed >> 44, ((packed >> 41) & 7) + 1, packed & ((1 << 36) - 1)
        at += 4 + size
        if header & 0x80:
            break
    if not rate:
        return None
    if not total:
        total = _flac_frames(data, at, rate)
    return (total / rate, rate, channels) if total else None


def _flac_frames(data: bytes, at: int, rate: int) -> int:
    """Samples in the frames of a stream whose STREAMINFO did not say: each frame header found by its sync
    code, checked by its CRC-8 and by the frame numbers following one another."""
    total, expected = 0, 0
    while True:
        at = data.find(b"\xff\xf8", at)
        if at < 0 or at + 6 > len(data):
            return total
        parsed = _flac_frame_header(data, at, expected)
        if parsed is None:
            at += 1
            continue
        block, length = parsed
        total += block
        expected += 1
        at += length


def _flac_frame_header(data: bytes, at: int, number: int) -> tuple[int, int] | None:
    """(samples, header length) of a fixed-blocksize frame header numbered `number` at `at`, else None."""
    size_code, rate_code = data[at + 2] >> 4, data[at + 2] & 0xF
    first = data[at + 4]
    ones = 0
    while ones < 8 and first & (0x80 >> ones):
        ones += 1
    if ones == 1 or ones > 7:
        return None
    length = max(1, ones)
    value = first & (0xFF >> (ones + 1)) if ones else first
    for byte in data[at + 5 : at + 4 + length]:
        value = (value << 6) | (byte & 0x3F)
    end = at + 4 + length
    if size_code == 1:
        block = 192
    elif 2 <= size_code <= 5:
        block = 576 << (size_code - 2)
    elif size_code == 6:
        block, end = data[end] + 1, end + 1
    elif size_code == 7:
        block, end = int.from_bytes(data[end : end + 2], "big") + 1, end + 2
    elif size_code >= 8:
        block = 256 << (size_code - 8)
    else:
        return None
    end += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if value != number or end >= len(data) or crc8(data[at:end]) != data[end]:
        return None
    return block, end + 1 - at


def _ogg(data: bytes) -> tuple[float, int, int] | None:
    first_packet = b""
    granule = -1
    at = 0
    while at + 27 <= len(data) and data[at : at + 4] == b"OggS":
        position = struct.unpack_from("<q", data, at + 6)[0]
        segments = data[at + 26]
        sizes = data[at + 27 : at + 27 + segments]
        body = at + 27 + segments
        if not first_packet:
            first_packet = data[body : body + sum(sizes)]
        if position >= 0:
            granule = position
        at = body + sum(sizes)
    if first_packet[:8] == b"OpusHead" and granule > 0:
        pre_skip = struct.unpack_from("<H", first_packet, 10)[0]
        return max(0, granule - pre_skip) / 48000, 48000, first_packet[9]
    if first_packet[:7] == b"\x01vorbis" and granule > 0:
        channels, rate = first_packet[11], struct.unpack_from("<I", first_packet, 12)[0]
        return granule / rate, rate, channels
    return None
