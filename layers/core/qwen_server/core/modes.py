"""The web mode a request runs in (`ChatRequest.extra["chat_type"]`), wherever the API put it.

A model name can ask for one (`qwen-deep-research`, `<model>-search`: `core/catalog.py`), and so can a
request's own search option; the explicit option wins over the name only when the name asks for nothing.
"""

from __future__ import annotations

from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.model import ChatRequest


def ask_mode(request: ChatRequest, chat_type: str) -> None:
    request.extra.setdefault("chat_type", chat_type)


def mode_from_name(request: ChatRequest, catalog: ModelCatalog, name: str) -> None:
    chat_type = catalog.resolve(name).chat_type
    if chat_type is not None:
        request.extra["chat_type"] = chat_type

