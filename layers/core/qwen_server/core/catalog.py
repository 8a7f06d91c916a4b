"""Model names: what clients may ask for and which upstream model serves it.

The table lives in the repo's `shared/models.json` (aliases, alias patterns, model families, the Anthropic
family mapping, a fallback model list) and can be extended by the `MODEL_ALIASES` env (JSON object). An alias
maps to a model id, to `{"model": id, "thinking": true}` to switch thinking on by name, or to
`{"family": name}`: an ordered list of models, the first of which serves a request unless the request needs
what it lacks (images, thinking, ...), when the first one of the family that has it does (`Resolved.candidates`,
chosen per request in `media.capability.choose`). `gpt-*`, `o*` and `claude-*` names are family aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

# claude-<family>[-version][-date|-latest], claude-<version>-<family>[-...], and Vertex's `@date` suffix
_CLAUDE = re.compile(r"^claude-(?:[\w.]+-)*?(opus|sonnet|haiku)(?![a-z])[-\w.@]*$")


@dataclass(frozen=True, slots=True)
class Resolved:
    requested: str
    upstream: str
    thinking: bool | None = None
    chat_type: str | None = None  # a web mode (`search`, `deep_research`, ...) the name asks for
    candidates: tuple[str, ...] = ()  # a family alias: the models that may serve it, first choice first
    pattern: bool = False  # resolved by a name pattern (`gpt-*`, `o*`), not an exact alias


# `<model>-search` and friends: the model in one of the web's modes (`providers/qwen_web/modes.py`)
MODE_SUFFIXES = {
    "-search": "search",
    "-deep-research": "deep_research",
    "-artifacts": "artifacts",
    "-web-dev": "web_dev",
}


@cache
def _table() -> dict[str, Any]:
    from qwen_server.core.shared_data import load_json

    data = load_json("models.json")
    return data if isinstance(data, dict) else {}


def _env_aliases(text: str) -> dict[str, Any]:
    """`MODEL_ALIASES` checked: a JSON object whose values are model ids or {"model": id, ...}."""
    from qwen_server.config import ConfigError

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"MODEL_ALIASES is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError('MODEL_ALIASES must be a JSON object, e.g. {"my-model": "qwen3-max"}')
    for name, target in value.items():
        ok = (isinstance(target, str) and target) or (
            isinstance(target, dict)
            and any(isinstance(target.get(k), str) and target[k] for k in ("model", "family"))
        )
        if not ok:
            raise ConfigError(
                f'MODEL_ALIASES[{name!r}] must be a model id, {{"model": id, "thinking": true|false}} '
                'or {"family": name}'
            )
    return value


class ModelCatalog:
    def __init__(self, env_aliases: str | None = None, default_model: str | None = None) -> None:
        table = _table()
        self.aliases: dict[str, Any] = dict(table.get("aliases") or {})
        if env_aliases:
            self.aliases.update(_env_aliases(env_aliases))
        self.model_families: dict[str, tuple[str, ...]] = {
            str(k): tuple(str(m) for m in v) for k, v in (table.get("families") or {}).items() if v
        }
        self.families: dict[str, str] = dict(table.get("anthropic_families") or {})
        for family in list(self.families):
            override = self.aliases.get(f"claude-{family}")
            if isinstance(override, str):
                self.families[family] = override
        self.patterns: list[tuple[re.Pattern[str], dict[str, Any]]] = [
            (re.compile(str(row["pattern"])), row) for row in table.get("alias_patterns") or ()
        ]
        self.default_model = default_model or str(table.get("default_model") or "qwen3-max")
        self.fallback_models: list[dict[str, Any]] = list(table.get("models") or [])

    def members(self, target: str) -> tuple[str, ...]:
        """A family's models in order, or the one model a target names."""
        return self.model_families.get(target) or (target,)

    def _from(self, name: str, target: dict[str, Any], pattern: bool = False) -> Resolved:
        """An alias object: `{"model": id}` or `{"family": name}`, with `thinking` and `chat_type`."""
        thinking, chat_type = target.get("thinking"), target.get("chat_type")
        candidates = self.members(str(target["family"])) if target.get("family") else ()
        return Resolved(
            name,
            candidates[0] if candidates else str(target["model"]),
            bool(thinking) if thinking is not None else None,
            str(chat_type) if chat_type else None,
            candidates if len(candidates) > 1 else (),
            pattern,
        )

    def resolve(self, name: str) -> Resolved:
        """Map a requested name to an upstream model id (unknown names pass through unchanged)."""
        alias = self.aliases.get(name)
        if isinstance(alias, str):
            return Resolved(name, alias)
        if isinstance(alias, dict) and (alias.get("model") or alias.get("family")):
            return self._from(name, alias)
        for suffix, chat_type in MODE_SUFFIXES.items():
            if name.endswith(suffix) and len(name) > len(suffix):
                base = self.resolve(name.removesuffix(suffix))
                return Resolved(name, base.upstream, base.thinking, chat_type, base.candidates, base.pattern)
        match = _CLAUDE.match(name)
        if match:
            family = self.members(self.families.get(match.group(1), self.default_model))
            return Resolved(name, family[0], candidates=family if len(family) > 1 else ())
        for pattern, row in self.patterns:
            if pattern.match(name):
                return self._from(name, row, pattern=True)
        return Resolved(name, name)

    def is_alias(self, name: str) -> bool:
        return (
            name in self.aliases
            or bool(_CLAUDE.match(name))
            or any(p.match(name) for p, _ in self.patterns)
            or self._moded(name)
        )

    def _moded(self, name: str) -> bool:
        """`<name>-search` and friends are aliases when the base name is one (else the upstream's list
        decides, through the base model)."""
        return any(
            name.endswith(suffix) and self.is_alias(name.removesuffix(suffix))
            for suffix in MODE_SUFFIXES
            if len(name) > len(suffix)
        )
