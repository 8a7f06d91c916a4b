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


def transcript_of(data: bytes, size: int | None = None) -> str:
    """Six words picked by the SHA-256 of `data`, then the clip's size (`len(data)` unless given)."""
    digest = hashlib.sha256(data).digest()
    words = [WORDS[b % len(WORDS)] for b in digest[:6]]
    return f"{' '.join(words).capitalize()} ({len(data) if size is None else size} bytes)."


def translation_of(data: bytes, size: int | None = None) -> str:
    return TRANSLATED_PREFIX + transcript_of(data, size)


def embedding_of(text: str, dimensions: int) -> list[float]:
    """A unit-free deterministic vector: bytes of repeated SHA-256 digests scaled to [-1, 1)."""
    out: list[float] = []
    seed = text.encode("utf-8")
    while len(out) < dimensions:
        seed = hashlib.sha256(seed).digest()
        out.extend((b - 128) / 128 for b in seed)
    return out[:dimensions]


def heard_files(body: object) -> str | None:
    """The answer to a completion whose message carries an audio `files[]` entry: the transcript of that
    file (words from its id and name, then its size: the bytes themselves stay on the file store),
    translated when the message asks for English. None when no audio file is attached."""
    try:
        message = body["messages"][0]  # type: ignore[index]
        files = message.get("files") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    for entry in files if isinstance(files, list) else ():
        if not isinstance(entry, dict) or "audio" not in (entry.get("type"), entry.get("file_class")):
            continue
        inner = entry.get("file")
        inner = inner if isinstance(inner, dict) else {}
        meta = inner.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        seen = f"{entry.get('id')}|{entry.get('name') or meta.get('name')}".encode()
        size = entry.get("size") or meta.get("size")
        size = size if isinstance(size, int) else 0
        content = str(message.get("content") or "")
        return translation_of(seen, size) if "into English" in content else transcript_of(seen, size)
    return None
