"""Pure: the emulated upstreams' deterministic speech and transcripts, shared by the web emulator and the
OpenAI-compatible fake (`bench/fake_openai.py`), so tests can tell what an answer must be.

Speech is 24 kHz s16le mono PCM, 40 ms per character of the text: a tone per letter, silence for spaces.
A transcript is a few words picked by the SHA-256 of the audio bytes, then the byte count, so a test knows
the upstream saw exactly the bytes it sent.
"""

from __future__ import annotations

import array
import hashlib
import math
import sys
from collections.abc import Sequence
from typing import Protocol

PCM_RATE = 24_000
SECONDS_PER_CHAR = 0.04
WORDS = (
    "amber", "birch", "cedar", "delta", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kelp", "lumen", "maple", "nectar", "onyx", "prism",
)  # fmt: skip
TRANSLATED_PREFIX = "[en] "


def speech_samples(text: str, speed: float = 1.0) -> int:
    return round(len(text) * SECONDS_PER_CHAR * PCM_RATE / speed)


def speech_pcm(text: str, speed: float = 1.0) -> bytes:
    per_char = round(SECONDS_PER_CHAR * PCM_RATE / speed)
    samples = array.array("h")
    for char in text:
        if char.isspace():
            samples.extend([0] * per_char)
            continue
        step = 2 * math.pi * (220 + (ord(char) % 32) * 20) / PCM_RATE
        samples.extend(int(6000 * math.sin(step * i)) for i in range(per_char))
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def transcript_of(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    words = [WORDS[b % len(WORDS)] for b in digest[:6]]
    return f"{' '.join(words).capitalize()} ({len(data)} bytes)."


def translation_of(data: bytes) -> str:
    return TRANSLATED_PREFIX + transcript_of(data)


def embedding_of(text: str, dimensions: int) -> list[float]:
    """A unit-free deterministic vector: bytes of repeated SHA-256 digests scaled to [-1, 1)."""
    out: list[float] = []
    seed = text.encode("utf-8")
    while len(out) < dimensions:
        seed = hashlib.sha256(seed).digest()
        out.extend((b - 128) / 128 for b in seed)
    return out[:dimensions]


class Heard(Protocol):
    content_type: str
    data: bytes | None


def heard(files: Sequence[Heard], content: str) -> str | None:
    """The answer to a completion that asks for a verbatim transcript of an uploaded audio file, or for its
    translation into English: the transcript of its bytes (translated for English). None otherwise: the echo
    then describes the file, as it does for any other."""
    if "verbatim" not in content and "into English" not in content:
        return None
    for stored in files:
        if stored.content_type.startswith("audio/"):
            data = stored.data or b""
            return translation_of(data) if "into English" in content else transcript_of(data)
    return None
