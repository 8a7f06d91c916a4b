"""The web protocol's knobs as data: `protocol.json` beside this module, patched by `QWEN_PROTOCOL_OVERRIDES`.

The web API is private and changes without notice. Paths, the header table (with the `version` header the
write endpoints demand), the completion payload's fixed fields, the WAF / error signatures and where the web
app's own page names its current `version` (`version_discovery`) live in one data file, so a change upstream
that renames a path or bumps a version is a configuration change:
`QWEN_PROTOCOL_OVERRIDES` holds a JSON object (or the path of a JSON file) deep-merged over the file, where
`null` removes a key, e.g. `{"headers": {"version": "0.2.91"}, "paths": {"completions": "/api/v3/chat"}}`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

OVERRIDES_ENV = "QWEN_PROTOCOL_OVERRIDES"
DATA_FILE = Path(__file__).with_name("protocol.json")


class ProtocolError(ValueError):
    """Overrides that cannot be read or that leave the protocol unusable; the message names the variable."""


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` deep-merged over a copy of `base`: objects merge key by key, `null` removes a key, anything
    else replaces the value."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_overrides(raw: str | None, source: str = OVERRIDES_ENV) -> dict[str, Any]:
    """The overrides object from a JSON text or from the JSON file `raw` names."""
    if raw is None or not raw.strip():
        return {}
    text = raw.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ProtocolError(f"{source}: neither a JSON object nor a readable file ({exc.strerror})") from None
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(patch, dict):
        raise ProtocolError(f"{source}: must be a JSON object such as {{\"headers\": {{\"version\": \"0.2.1\"}}}}")
    return patch


def _check(data: dict[str, Any], source: str) -> None:
    """Refuse shapes the code cannot use, naming the key."""
    for section in ("paths", "headers", "completion", "new_chat", "feature_config", "signatures", "login"):
        if not isinstance(data.get(section), dict):
            raise ProtocolError(f"{source}: `{section}` must be an object")
    for name, path in data["paths"].items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ProtocolError(f"{source}: paths.{name} must be a string starting with '/'")
    for name, value in data["headers"].items():
        if not isinstance(value, str):
            raise ProtocolError(f"{source}: headers.{name} must be a string")
    for name, words in data["signatures"].items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise ProtocolError(f"{source}: signatures.{name} must be a list of strings")
    if not isinstance(data.get("user_agent"), str):
        raise ProtocolError(f"{source}: `user_agent` must be a string")
    if not isinstance(data.get("message", {}), dict):
        raise ProtocolError(f"{source}: `message` must be an object")
    if data.get("version_discovery") is not None:
        _check_discovery(data["version_discovery"], source)


def _check_discovery(found: Any, source: str) -> None:
    """`version_discovery`: a page path, patterns that compile (each capturing the version), limits."""
    key = f"{source}: version_discovery"
    if not isinstance(found, dict):
        raise ProtocolError(f"{key} must be an object (or null to turn discovery off)")
    if not isinstance(found.get("page"), str) or not found["page"].startswith("/"):
        raise ProtocolError(f"{key}.page must be a path starting with '/'")
    patterns = found.get("version_patterns")
    if not isinstance(patterns, list) or not patterns:
        raise ProtocolError(f"{key}.version_patterns must be a non-empty list of regular expressions")
    for name, pattern in [("script_src", found.get("script_src")), *(("version_patterns", p) for p in patterns)]:
        try:
            compiled = re.compile(pattern) if isinstance(pattern, str) else None
        except re.error as exc:
            raise ProtocolError(f"{key}.{name}: not a regular expression ({exc})") from None
        if compiled is None or compiled.groups < 1:
            raise ProtocolError(f"{key}.{name} must be a regular expression with one capturing group")
    hosts = found.get("script_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise ProtocolError(f"{key}.script_hosts must be a list of host names")
    for name in ("max_scripts", "max_bytes", "ttl_seconds"):
        value = found.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ProtocolError(f"{key}.{name} must be a positive whole number")
    headers = found.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ProtocolError(f"{key}.headers must be an object of strings")


@dataclass(frozen=True)
class Protocol:
    """The protocol in force: the data file with its overrides applied."""

    data: dict[str, Any]
    overridden: tuple[str, ...] = ()  # top-level sections an override touched (the doctor shows them)
    version_pinned: bool = False  # an override set (or removed) `headers.version`: nothing learned replaces it

    def path(self, name: str, **params: str) -> str:
        """A path by name, with `{chat_id}`-style placeholders filled."""
        template: str = self.data["paths"][name]
        return template.format(**params) if params else template

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.data["headers"])

    @property
    def version(self) -> str | None:
        """The `version` header the write endpoints demand (None when an override removed it)."""
        value = self.data["headers"].get("version")
        return str(value) if value is not None else None

    @property
    def version_source(self) -> str:
        """Where the `version` header in force comes from (the clients' and the doctor's messages name it)."""
        return f"set by {OVERRIDES_ENV}" if self.version_pinned else f"from {DATA_FILE.name}"

    @property
    def discovery(self) -> dict[str, Any] | None:
        """Where the web app's page names its current version; None when an override turned discovery off."""
        found = self.data.get("version_discovery")
        return copy.deepcopy(found) if isinstance(found, dict) else None

    @property
    def user_agent(self) -> str:
        return str(self.data["user_agent"])

    def section(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.data.get(name) or {})

    @cached_property
    def _signatures(self) -> dict[str, tuple[str, ...]]:
        return {k: tuple(w.lower() for w in v) for k, v in self.data["signatures"].items()}

    def signatures(self, kind: str) -> tuple[str, ...]:
        """Lower-cased markers of one kind of answer (`waf_page`, `captcha`, `waf_codes`, ...)."""
        return self._signatures.get(kind, ())

    def matches(self, kind: str, text: str) -> str | None:
        """The first marker of `kind` found in `text` (case-insensitive), None when none is."""
        lowered = text.lower()
        return next((marker for marker in self.signatures(kind) if marker in lowered), None)


def defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return loaded


def load(raw: str | None, source: str = OVERRIDES_ENV) -> Protocol:
    """The data file with the overrides `raw` (JSON or a file path) applied; raises `ProtocolError`."""
    patch = parse_overrides(raw, source)
    data = merge(defaults(), patch)
    _check(data, source)
    headers = patch.get("headers")
    pinned = isinstance(headers, dict) and "version" in headers
    return Protocol(data, tuple(sorted(patch)), version_pinned=pinned)


_current: Protocol | None = None


def current() -> Protocol:
    """The protocol in force in this process: the data file patched by `QWEN_PROTOCOL_OVERRIDES`, read once.
    Unusable overrides fall back to the data file here; `serve` refuses to start with them (app.config_check)."""
    global _current
    if _current is None:
        try:
            _current = load(configured_overrides())
        except ProtocolError:
            _current = load(None)
    return _current


def configured_overrides() -> str | None:
    """`QWEN_PROTOCOL_OVERRIDES` from the environment, else from `.env` (as every setting is read)."""
    raw = os.environ.get(OVERRIDES_ENV)
    if raw is not None:
        return raw
    from qwen_server.config import ConfigError, get_settings

    try:
        return get_settings().qwen_protocol_overrides
    except ConfigError:
        return None  # another setting is wrong; `serve` and the doctor report that one


def configure(raw: str | None) -> Protocol:
    """Put other overrides in force (tests, the emulator's own copy of the protocol)."""
    global _current
    _current = load(raw)
    return _current


def load_from_env() -> Protocol:
    """`QWEN_PROTOCOL_OVERRIDES` (environment or `.env`) read strictly and put in force; raises
    `ProtocolError` when unusable."""
    return configure(configured_overrides())
