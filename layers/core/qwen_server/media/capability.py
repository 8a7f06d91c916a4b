"""Whether a model takes a medium, by a table of model capabilities (`ModelsDirectory.capabilities`: the
upstream's own model list, else the shipped catalogue).

A model whose capabilities are known and lack the medium is a 400 naming the served models that have it; a
model nobody describes (an OpenAI-compatible upstream that lists bare ids) is given the benefit of the doubt
and its upstream decides. A family alias (`gpt-4o`, `claude-sonnet-*`) first picks the member that serves the
request (`choose`), so the 400 is left for a model the client named itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart

CAPABILITY: dict[MediaKind, str] = {
    "image": "vision",
    "audio": "audio",
    "video": "video",
    "document": "document",
}
NOUN: dict[MediaKind, str] = {"image": "images", "audio": "audio", "video": "video", "document": "documents"}


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What the served models take: model id -> capabilities for every model something describes, and
    which ids are served (while some upstream's list is unknown, any model may be)."""

    table: Mapping[str, frozenset[str]]
    ids: frozenset[str] = frozenset()
    complete: bool = False

    def served(self, model: str) -> bool:
        return not self.complete or model in self.ids


def needs(parts: Sequence[MediaPart], thinking: bool) -> frozenset[str]:
    """The capabilities a request needs of its model."""
    return frozenset({CAPABILITY[p.kind] for p in parts} | ({"thinking"} if thinking else set()))


def choose(
    candidates: Sequence[str],
    needed: frozenset[str],
    table: Mapping[str, frozenset[str]],
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
    table: Mapping[str, frozenset[str]],
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
