"""A request body checked against its API schema: the first problem becomes a 400 naming the parameter, in the
words OpenAI uses. Shared by the routes and by batch lines, which carry the same bodies."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from qwen_server.core.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "function-after", "function-before"})


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"] if not _is_type_tag(p)]
        param = ".".join(loc) or None
        kind = first.get("type", "")
        if kind == "missing":
            message = f"Missing required parameter: '{param}'."
        else:
            message = f"Invalid value for '{param}': {first['msg']}."
        raise InvalidRequest(message, param=param) from None


def _is_type_tag(part: Any) -> bool:
    if isinstance(part, int):
        return False
    text = str(part)
    return text in _TYPE_NAMES or "[" in text or text[:1].isupper() or text.startswith("function-")
