"""Pure: a JSON value valid against a JSON Schema, with plausible values taken from the request.

Covers what response formats and tool signatures use: `type` (one or a list), `enum`, `const`, `properties`
/ `required`, `items` / `minItems` / `maxItems` / `uniqueItems`, `anyOf` / `oneOf` / `allOf`, `$ref` into
`$defs` / `definitions`, string `format`s, `minLength` / `maxLength`, numeric bounds and `multipleOf`. Values
come from the request's facts (`prompt_facts`): a `name` or `city` takes the next proper name, a number the
next number (or the one a `key: value` pair gives), an enum the member the request mentions; a `summary` or
`answer` takes the request's own words. What the request does not give gets a neutral default. The result
is checked with `jsonschema`; a `pattern` the facts do not meet may still fail, and the caller sees it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from qwen_server.emulator.prompt_facts import Facts, key_of

MAX_DEPTH = 8
MAX_ITEMS = 5
PLACE_WORDS = frozenset(
    "city country location place capital state region town destination origin address venue".split()
)
TITLE_WORDS = frozenset("title topic subject headline heading caption".split())
NAME_WORDS = PLACE_WORDS | frozenset(
    """name person author company brand username owner customer team product organisation
    organization artist character label speaker attendee participant user employee manager vendor member
    guest friend people director actor writer composer singer founder ceo president leader inventor creator
    host player coach teacher student doctor contact recipient sender""".split()
)
TEXT_WORDS = frozenset(
    """description summary answer text content reason reasoning explanation message comment notes details
    response result question prompt body sentence output justification thoughts analysis task query
    instructions goal objective""".split()
)
_NEGATION = re.compile(r"\b(?:not|no|never|without|isn't|aren't|doesn't|don't|false)\b")


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _key_words(key: str) -> set[str]:
    return {singular(w) for w in key_of(key).split("_") if w}


def _gist(text: str, words: int = 12) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("..." if len(parts) > words else "") if parts else "example"


class Filler:
    """One value per call of `value`; facts are consumed in order (two `name`s get two different names)."""

    def __init__(
        self,
        root: Mapping[str, Any],
        facts: Facts,
        *,
        optional: bool = True,
        hints: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.facts = facts
        self.optional = optional  # fill optional properties too (answers), or only required and hinted ones
        self.hints = dict(hints or {})
        self._places = list(facts.places)
        self._people = [n for n in facts.names if n not in facts.places]
        self._numbers = list(facts.numbers)

    # ---- schema plumbing ---------------------------------------------------------------------------
    def _resolve(self, schema: Any, depth: int) -> dict[str, Any]:
        if not isinstance(schema, Mapping):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and depth < MAX_DEPTH:
            target: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            return {**self._resolve(target, depth + 1), **{k: v for k, v in schema.items() if k != "$ref"}}
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                piece = self._resolve(part, depth + 1)
                merged["properties"] = {**merged.get("properties", {}), **piece.get("properties", {})}
                merged["required"] = [*merged.get("required", []), *piece.get("required", [])]
                merged.update({k: v for k, v in piece.items() if k not in ("properties", "required")})
            return merged
        return dict(schema)

    @staticmethod
    def _type(schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if kinds else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"

    # ---- values ------------------------------------------------------------------------------------
    def value(self, schema: Any, key: str = "", depth: int = 0) -> Any:
        schema = self._resolve(schema, depth)
        if depth > MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema["enum"], key)
        for union in ("anyOf", "oneOf"):
            options = schema.get(union)
            if isinstance(options, list) and options:
                resolved = [self._resolve(o, depth + 1) for o in options]
                chosen = next((o for o in resolved if self._type(o) != "null"), resolved[0])
                rest = {k: v for k, v in schema.items() if k != union}
                return self.value({**rest, **chosen}, key, depth + 1)
        if key in self.hints:
            return self.hints[key]
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, key, depth)
        if kind in ("integer", "number"):
            return self._number(schema, key, kind == "integer")
        if kind == "boolean":
            return self._boolean(key)
        if kind == "null":
            return None
        return self._string(schema, key)

    def _enum(self, options: list[Any], key: str) -> Any:
        text = self.facts.text.lower()
        for option in options:
            if isinstance(option, str) and option and re.search(rf"\b{re.escape(option.lower())}\b", text):
                return option
        return options[0]

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if self.optional or name in required or name in self.hints:
                    out[name] = self.value(sub, name, depth + 1)
        for name in sorted(required - set(out)):  # required but not described: anything goes
            out[name] = self.hints.get(name, self._string({}, name))
        minimum = schema.get("minProperties")
        extra = schema.get("additionalProperties")
        if isinstance(minimum, int) and len(out) < minimum and extra is not False:
            for i in range(len(out), minimum):
                out[f"key{i + 1}"] = self.value(extra if isinstance(extra, Mapping) else {}, "", depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], key: str, depth: int) -> list[Any]:
        item = self._resolve(schema.get("items") or {}, depth + 1)
        lo = int(schema.get("minItems") or 0)
        most = schema.get("maxItems")
        hi = most if isinstance(most, int) else MAX_ITEMS
        if depth >= MAX_DEPTH // 2:  # deep in a recursive schema: as few items as allowed
            return [self.value(item, key, depth + 1) for _ in range(lo)]
        kind = self._type(item)
        props = item.get("properties") if kind == "object" else None
        if kind == "string" and "enum" not in item and _key_words(key) & NAME_WORDS:
            count = len(self._pool(_key_words(key)))
            values: list[Any] = [self.value(item, key, depth + 1) for _ in range(max(1, count))]
        elif kind == "string" and "enum" not in item and self.facts.items:
            values = list(self.facts.items)
        elif isinstance(props, Mapping) and any(_key_words(p) & NAME_WORDS - PLACE_WORDS for p in props):
            values = [self.value(item, key, depth + 1) for _ in range(max(1, len(self._people)))]
        else:
            values = [self.value(item, key, depth + 1)]
        while len(values) < lo:
            values.append(self.value(item, key, depth + 1))
        values = values[: max(lo, min(len(values), hi))]
        if schema.get("uniqueItems"):
            values = self._unique(values)
        return values

    @staticmethod
    def _unique(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for i, v in enumerate(values):
            if v in out:
                v = f"{v} {i + 1}" if isinstance(v, str) else (v + i if isinstance(v, int | float) else v)
            out.append(v)
        return out

    def _near(self, key: str) -> float | None:
        """A number given for this key: `age: 30`, `30 years old` for an age, a year for a year."""
        given = self.facts.pairs.get(key) or self.facts.pairs.get(key.split("_")[-1])
        if given is not None:
            found = re.search(r"-?\d+(?:\.\d+)?", given)
            if found:
                return float(found.group(0))
        words = key.split("_")
        if "year" in words or "years" in words:
            for n in self._numbers:
                if n.is_integer() and 1000 <= n <= 2200:
                    return n
        return None

    def _number(self, schema: Mapping[str, Any], key: str, integer: bool) -> int | float:
        near = self._near(key_of(key))
        if near is not None:
            if near in self._numbers:
                self._numbers.remove(near)
            value = near
        elif self._numbers:
            value = self._numbers.pop(0)
        else:
            value = 1.0
        lo, hi = schema.get("minimum"), schema.get("maximum")
        ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        step = 1 if integer else 0.5
        if isinstance(lo, int | float) and value < lo:
            value = lo
        if isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool) and value <= ex_lo:
            value = ex_lo + step
        if isinstance(hi, int | float) and value > hi:
            value = hi
        if isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool) and value >= ex_hi:
            value = ex_hi - step
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and multiple > 0:
            value = round(value / multiple) * multiple
        return round(value) if integer else float(value)

    def _boolean(self, key: str) -> bool:
        words = [w for w in key_of(key).split("_") if len(w) > 2]
        text = self.facts.text.lower()
        for word in words:
            at = text.find(word)
            if at != -1:
                return not _NEGATION.search(text[max(0, at - 25) : at])
        return False

    def _string(self, schema: Mapping[str, Any], key: str) -> str:
        value = self._string_value(schema, key_of(key))
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        if isinstance(lo, int) and len(value) < lo:
            value = (value + " " + "x" * lo)[:lo] if value else "x" * lo
        if isinstance(hi, int) and len(value) > hi:
            value = value[:hi]
        return value

    def _string_value(self, schema: Mapping[str, Any], key: str) -> str:
        facts = self.facts
        fmt = schema.get("format")
        if fmt == "email":
            return facts.emails[0] if facts.emails else "someone@example.com"
        if fmt in ("uri", "url", "iri"):
            return facts.urls[0] if facts.urls else "https://example.com/"
        if fmt == "date":
            return facts.dates[0] if facts.dates else "2025-01-01"
        if fmt == "date-time":
            return (facts.dates[0] if facts.dates else "2025-01-01") + "T00:00:00Z"
        if fmt == "time":
            return "12:00:00"
        if fmt == "uuid":
            return str(uuid.UUID(hashlib.sha256(facts.text.encode()).hexdigest()[:32]))
        words = _key_words(key)
        given = facts.pairs.get(key) or facts.pairs.get(key.split("_")[-1]) if key else None
        if given:
            return given
        if words & {"email", "mail"} and facts.emails:
            return facts.emails[0]
        if words & {"url", "link", "website", "homepage"} and facts.urls:
            return facts.urls[0]
        if words & {"date", "day", "when", "deadline"}:
            day = re.search(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:today|tomorrow)\b", facts.text, re.I)
            return facts.dates[0] if facts.dates else day.group(0) if day else "2025-01-01"
        if words & {"path", "file", "filename"} and facts.files:
            return facts.files[0]
        if words & TEXT_WORDS or not key:
            return facts.text.strip() or "example"
        if words & TITLE_WORDS:
            return facts.quoted[0] if facts.quoted else _gist(facts.text, 6)
        if words & NAME_WORDS:
            pool = self._pool(words)
            return pool.pop(0) if pool else "unknown"
        return _gist(facts.text)

    def _pool(self, words: set[str]) -> list[str]:
        """The names left for a key: places for a place, people (then places) for anything else."""
        return self._places if words & PLACE_WORDS else self._people


def fill(
    schema: Mapping[str, Any],
    facts: Facts,
    *,
    optional: bool = True,
    hints: Mapping[str, Any] | None = None,
) -> Any:
    """A value for `schema`; falls back to one built without the facts when theirs does not validate."""
    import jsonschema

    value = Filler(schema, facts, optional=optional, hints=hints).value(schema)
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        plain = Filler(schema, Facts(text=""), optional=optional, hints=hints).value(schema)
        try:
            jsonschema.validate(plain, schema)
        except jsonschema.ValidationError:
            return value
        return plain
    except jsonschema.SchemaError:
        return value
    return value
