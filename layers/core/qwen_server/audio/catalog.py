"""The audio endpoints' table (`shared/audio.json`): model aliases, voices, limits, and which account kinds
serve what. Data, so a new voice or a new upstream's row limit is an edit, not a change of code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from qwen_server.core.errors import InvalidRequest


@cache
def table() -> dict[str, Any]:
    from qwen_server.core.shared_data import load_json

    data = load_json("audio.json")
    return data if isinstance(data, dict) else {}


def model_for(section: str, name: str | None) -> str:
    """The upstream model a requested name stands for (unknown names pass through to the upstream)."""
    entry = table()[section]
    if not name:
        return str(entry["default_model"])
    return str(entry["aliases"].get(name, name))


@dataclass(frozen=True, slots=True)
class Voice:
    requested: str
    qwen: str  # what DashScope and web accounts are asked for
    passthrough: str  # what an OpenAI-compatible upstream is asked for: the name as the client gave it


def voice(name: str | None) -> Voice:
    """An OpenAI voice name mapped to its Qwen voice, or a Qwen voice by name (any case); else a 400."""
    speech = table()["speech"]
    if not name:
        default = str(speech["default_voice"])
        return Voice(default, default, "alloy")
    mapped = speech["voices"].get(name.lower())
    if mapped:
        return Voice(name, str(mapped), name)
    for qwen in speech["qwen_voices"]:
        if qwen.lower() == name.lower():
            return Voice(name, str(qwen), name)
    known = ", ".join([*speech["voices"], *speech["qwen_voices"]])
    raise InvalidRequest(
        f"Unknown voice {name!r}. Known voices: {known}", param="voice", code="invalid_voice"
    )


def speech_kinds() -> frozenset[str]:
    return frozenset(table()["speech"]["kinds"])


def embedding_kinds() -> dict[str, dict[str, Any]]:
    """Account kinds that serve embeddings, with their rows per call and whether they take token arrays."""
    return dict(table()["embeddings"]["kinds"])
