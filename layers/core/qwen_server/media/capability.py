"""Whether a model takes a medium, by a table of model capabilities (`ModelsDirectory.capabilities`: the
upstream's own model list, else the shipped catalogue).

A model whose capabilities are known and lack the medium is a 400 naming the models that have it; a model
nobody describes (an OpenAI-compatible upstream that lists bare ids) is given the benefit of the doubt and
its upstream decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart

CAPABILITY: dict[MediaKind, str] = {
    "image": "vision",
    "audio": "audio",
    "video": "video",
    "document": "document",
}
NOUN: dict[MediaKind, str] = {"image": "images", "audio": "audio", "video": "video", "document": "documents"}


def check(model: str, parts: Sequence[MediaPart], table: Mapping[str, frozenset[str]]) -> None:
    caps = table.get(model)
    if caps is None:
        return
    for part in parts:
        needed = CAPABILITY[part.kind]
        if needed in caps:
            continue
        able = sorted(m for m, c in table.items() if needed in c)
        others = f"; models that do: {', '.join(able)}" if able else "; no served model does"
        raise InvalidRequest(
            f"model `{model}` does not accept {NOUN[part.kind]}{others}",
            param=part.param,
            code="unsupported_media_for_model",
        )
