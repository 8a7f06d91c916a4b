"""`response_format` for upstreams without a JSON mode: an instruction in, a validated JSON text out.

The answer is accepted when it parses as JSON (after removing a Markdown code fence a model may wrap it in)
and, for `json_schema`, validates against the schema. `jsonschema` is imported only when a schema is given.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def wants_json(response_format: dict[str, Any] | None) -> bool:
    return response_format is not None and response_format.get("type") in ("json_object", "json_schema")


def _schema(response_format: dict[str, Any]) -> dict[str, Any] | None:
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def instruction(response_format: dict[str, Any]) -> str:
    schema = _schema(response_format)
    text = "Reply with one JSON value only: no prose before or after it, no Markdown code fence."
    if schema is not None:
        text += " It must validate against this JSON Schema:\n" + orjson.dumps(schema).decode()
    else:
        text += " Reply with a JSON object."
    return text


def check(text: str, response_format: dict[str, Any]) -> tuple[str | None, str]:
    """(the clean JSON text, "") when acceptable, else (None, what is wrong)."""
    fenced = _FENCE.match(text)
    candidate = (fenced.group(1) if fenced else text).strip()
    try:
        value = orjson.loads(candidate)
    except orjson.JSONDecodeError as exc:
        return None, f"the reply is not valid JSON ({exc})"
    schema = _schema(response_format)
    if schema is None:
        if not isinstance(value, dict):
            return None, "the reply must be a JSON object"
        return candidate, ""
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return None, f"the reply does not match the schema at {where}: {exc.message}"
    except jsonschema.SchemaError as exc:
        from qwen_server.core.errors import InvalidRequest

        raise InvalidRequest(
            f"response_format.json_schema.schema is not a valid JSON Schema: {exc.message}",
            param="response_format",
        ) from None
    return candidate, ""


def repair_instruction(problem: str, response_format: dict[str, Any]) -> str:
    return f"Your previous reply was rejected: {problem}. " + instruction(response_format)
