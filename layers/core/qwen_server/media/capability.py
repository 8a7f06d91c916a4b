"""Whether a model takes a medium: from the upstream's own model list, else the shipped catalogue.

A model whose capabilities are known and lack the medium is a 400 naming the served models that have it; a
model nobody describes (an OpenAI-compatible upstream that lists bare ids) is given the benefit of the doubt
and its upstream decides. A family alias (`gpt-4o`, `claude-sonnet-*`) first picks the member that serves the
request (`choose`), so the 400 is left for a model the client named itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart
from qwen_server.providers.base import ModelInfo

CAPABILITY: dict[MediaKind, str] = {
    "image": "vision",
    "audio": "audio",
    "video": "video",
    "document": "document",
}
NOUN: dict[MediaKind, str] = {"image": "images", "audio": "audio", "video": "video", "document": "documents"}


def known_capabilities(
    models: Sequence[ModelInfo], catalogue: Iterable[dict[str, Any]]
) -> dict[str, frozenset[str]]:
    """Model id -> capabilities, for every model something describes (listing first, then catalogue)."""
    table: dict[str, frozenset[str]] = {}
    for row in catalogue:
        if row.get("id") and row.get("capabilities") is not None:
            table[str(row["id"])] = frozenset(str(c) for c in row["capabilities"])
    for info in models:
        if info.capabilities:
            table[info.id] = frozenset(info.capabilities)
    return table


def needs(parts: Sequence[MediaPart], thinking: bool) -> frozenset[str]:
    """The capabilities a request needs of its model."""
    return frozenset({CAPABILITY[p.kind] for p in parts} | ({"thinking"} if thinking else set()))


def choose(
    candidates: Sequence[str],
    needed: frozenset[str],
    table: dict[str, frozenset[str]],
    served: Callable[[str], bool],
) -> str:
    """The first served member of a family that has every needed capability (one nobody describes counts
    as able); the first member when none has them all, so its refusal names what is missing."""
    for model in candidates:
        caps = table.get(model)
        if served(model) and (caps is None or needed <= caps):
            return model
    return candidates[0]


def check(
    model: str,
    parts: Sequence[MediaPart],
    table: dict[str, frozenset[str]],
    served: Callable[[str], bool] = lambda _: True,
) -> None:
    caps = table.get(model)
    if caps is None:
        return
    for part in parts:
        needed = CAPABILITY[part.kind]
        if needed in caps:
            continue
        able = sorted(m for m, c in table.items() if needed in c and served(m))
        others = f"; models that do: {', '.join(able)}" if able else "; no served model does"
        raise InvalidRequest(
            f"model `{model}` does not accept {NOUN[part.kind]}{others}",
            param=part.param,
            code="unsupported_media_for_model",
        )
