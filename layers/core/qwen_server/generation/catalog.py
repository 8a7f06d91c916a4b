"""Image and video model names: catalogue aliases (`shared/media_models.json`) resolved per account kind.

A web account draws and films with a chat model (the chat type says what to do), so every alias resolves
to the gateway's default chat model there; DashScope gets the named model of the table; an
OpenAI-compatible account gets the name as asked (images only: videos are web and DashScope work).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from qwen_server.core.errors import NotFound
from qwen_server.providers.base import ProviderKind

Capability = Literal["image", "video"]


@cache
def _table() -> dict[str, Any]:
    from qwen_server.core.shared_data import load_json

    data = load_json("media_models.json")
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True, slots=True)
class MediaModel:
    """A requested image or video model, and what it means on each account kind."""

    name: str
    capability: Capability
    dashscope: str | None
    dashscope_i2v: str | None
    dashscope_edit: str | None

    def upstream(
        self, kind: ProviderKind, web_model: str, *, edit: bool = False, i2v: bool = False
    ) -> str | None:
        """The upstream model for an account of `kind`; None when that kind cannot do it."""
        if kind == "qwen-web":
            return web_model
        if kind == "dashscope":
            if edit:
                return self.dashscope_edit
            return self.dashscope_i2v if i2v else self.dashscope
        if self.capability == "image":
            return self.name  # OpenAI-compatible: passed through under the asked name
        return None


def resolve(name: str | None, capability: Capability) -> MediaModel:
    """The model for `name` (the group's default when absent); unknown names are a 404 naming the known ones."""
    group = _table().get("images" if capability == "image" else "videos") or {}
    models: dict[str, dict[str, str]] = group.get("models") or {}
    name = name or str(group.get("default"))
    row = models.get(name)
    if row is None:
        known = ", ".join(sorted(models))
        raise NotFound(f"unknown {capability} model {name!r}; known: {known}", param="model")
    edit = group.get("edit") or {}
    return MediaModel(name, capability, row.get("dashscope"), row.get("dashscope_i2v"), edit.get("dashscope"))


def names(capability: Capability) -> list[str]:
    group = _table().get("images" if capability == "image" else "videos") or {}
    return sorted(group.get("models") or {})
