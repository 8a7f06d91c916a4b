"""Loading account entries from `QWEN_ACCOUNTS` or an accounts file, with hot reload on change.

Accepted sources, first match wins: `QWEN_ACCOUNTS` (a JSON list), `QWEN_ACCOUNTS_FILE` (.json, .toml or a
.py file defining `ACCOUNTS = [...]`), or `qwen_accounts.py` / `qwen_accounts.json` / `qwen_accounts.toml` in
the working directory. The file is re-read when its mtime or size changes (checked at most once a second).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import time
import tomllib
from pathlib import Path
from typing import Any

from qwen_server.providers.base import Account

log = logging.getLogger("qwen_server.accounts")

DEFAULT_BASE_URLS = {
    "qwen-web": "https://chat.qwen.ai",
    "openai": "https://api.openai.com/v1",
    "dashscope": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
}
KIND_ALIASES = {"qwen": "qwen-web", "web": "qwen-web", "qwen_web": "qwen-web", "openai-compatible": "openai"}
DEFAULT_FILES = ("qwen_accounts.py", "qwen_accounts.json", "qwen_accounts.toml")


class AccountConfigError(ValueError):
    """An account entry or file is malformed; the message never contains a secret."""


def parse_entry(raw: dict[str, Any], position: int) -> Account:
    if not isinstance(raw, dict):
        raise AccountConfigError(f"account #{position}: expected an object, got {type(raw).__name__}")
    kind = str(raw.get("kind") or raw.get("type") or "qwen-web").lower()
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in DEFAULT_BASE_URLS:
        raise AccountConfigError(f"account #{position}: unknown kind {kind!r} (qwen-web, openai, dashscope)")
    session = _session_fields(raw, position) if kind == "qwen-web" else {}
    raw = {**raw, **{k: v for k, v in session.items() if k in ("token", "base_url")}}
    base_url = str(raw.get("base_url") or DEFAULT_BASE_URLS[kind]).rstrip("/")
    email = raw.get("email") or raw.get("username")
    password, token, api_key = raw.get("password"), raw.get("token"), raw.get("api_key")
    if kind == "qwen-web" and not (token or (email and password)):
        raise AccountConfigError(
            f"account #{position}: qwen-web needs email + password, a token, or a browser session "
            "(`cookie` or `curl`) carrying the token cookie"
        )
    if kind != "qwen-web" and not api_key:
        raise AccountConfigError(f"account #{position}: kind {kind} needs api_key")
    identity = f"{kind}|{base_url}|{email or ''}|{raw.get('name') or ''}|{(api_key or token or '')[-6:]}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    name = str(raw.get("name") or (email.split("@")[0] if email else f"{kind}-{digest[:6]}"))
    models = _models(raw.get("models"), position)
    return Account(
        id=str(raw.get("id") or f"{name}-{digest[:6]}"),
        kind=kind,  # type: ignore[arg-type]
        base_url=base_url,
        name=name,
        email=email,
        password=password,
        token=token,
        api_key=api_key,
        max_concurrent=int(raw.get("max_concurrent") or raw.get("concurrency") or 4),
        models=tuple(models) if models else None,
        cookies=session.get("cookies", ()),
        headers=session.get("headers", ()),
        user_agent=session.get("user_agent") or raw.get("user_agent") or None,
        browser_login=bool(raw.get("browser_login", False)),
    )


def _session_fields(raw: dict[str, Any], position: int) -> dict[str, Any]:
    """A browser session (`cookie` or `curl`) read into account fields; its errors are config errors."""
    from qwen_server.providers.qwen_web.session import SessionError, entry_fields

    try:
        return entry_fields(raw, position)
    except SessionError as exc:
        raise AccountConfigError(str(exc)) from None


def _models(value: Any, position: int) -> tuple[str, ...] | None:
    """`models` as a tuple of ids. A string is refused: `tuple("qwen3-max")` would be its letters."""
    if value is None:
        return None
    if isinstance(value, str):
        raise AccountConfigError(
            f"account #{position}: `models` must be a list of model ids, not a string: write [{value!r}]"
        )
    if not isinstance(value, list | tuple) or not all(isinstance(m, str) and m for m in value):
        raise AccountConfigError(
            f'account #{position}: `models` must be a list of model ids, e.g. ["qwen3-max"]'
        )
    return tuple(value) if value else None


def parse_entries(entries: Any) -> list[Account]:
    if not isinstance(entries, list):
        raise AccountConfigError("accounts must be a list of objects")
    return [parse_entry(raw, i) for i, raw in enumerate(entries)]


def read_file(path: Path) -> list[Account]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data: Any = json.loads(text)
    elif suffix == ".toml":
        data = tomllib.loads(text).get("accounts", [])
    elif suffix == ".py":
        data = _accounts_from_python(text, path)
    else:
        raise AccountConfigError(f"{path.name}: use .json, .toml or .py")
    if isinstance(data, dict):
        data = data.get("accounts", [])
    return parse_entries(data)


def _accounts_from_python(text: str, path: Path) -> Any:
    """Read `ACCOUNTS = [...]` as a literal, without executing the file."""
    tree = ast.parse(text, filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ACCOUNTS" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AccountConfigError(f"{path.name}: no ACCOUNTS = [...] literal found")


class AccountRegistry:
    """The current list of accounts; re-reads its file when it changes."""

    def __init__(self, env_json: str | None, file: str | None, check_interval: float = 1.0) -> None:
        self._env_json = env_json
        self._path = self._find_file(file)
        self._check_interval = check_interval
        self._checked_at = 0.0
        self._signature: tuple[float, int] | None = None
        self._accounts: list[Account] = []
        self.error: str | None = None
        self._load(initial=True)

    @staticmethod
    def _find_file(file: str | None) -> Path | None:
        if file:
            return Path(file)
        for name in DEFAULT_FILES:
            if Path(name).exists():
                return Path(name)
        return None

    def check_loaded(self) -> None:
        """Accounts that failed their first load are a configuration error (a reload failure is not: the
        previous list stays in service)."""
        if self.error is not None:
            from qwen_server.config import ConfigError

            raise ConfigError(f"accounts not loaded from {self.error}")

    @property
    def source(self) -> str:
        if self._env_json:
            return "QWEN_ACCOUNTS"
        return str(self._path) if self._path else "none"

    def _load(self, initial: bool = False) -> None:
        try:
            if self._env_json:
                self._accounts = parse_entries(json.loads(self._env_json))
            elif self._path is not None and self._path.exists():
                stat = self._path.stat()
                self._signature = (stat.st_mtime, stat.st_size)
                self._accounts = read_file(self._path)
            else:
                self._accounts = []
            self.error = None
        except (AccountConfigError, ValueError, SyntaxError, OSError) as exc:
            self.error = f"{self.source}: {type(exc).__name__}: {exc}"
            if initial:
                self._accounts = []
            log.error("accounts not (re)loaded, keeping the previous list: %s", self.error)

    def reload(self) -> None:
        """Read the accounts again now (the admin route); a file that fails keeps the previous list."""
        self._checked_at = time.monotonic()
        self._load()
        log.info("accounts reloaded from %s: %d account(s)", self.source, len(self._accounts))

    def accounts(self) -> list[Account]:
        """The current accounts, re-reading the file when it changed (at most once per interval)."""
        if self._path is not None and not self._env_json:
            now = time.monotonic()
            if now - self._checked_at >= self._check_interval:
                self._checked_at = now
                try:
                    stat = os.stat(self._path)
                    signature: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
                except OSError:
                    signature = None
                if signature != self._signature:
                    self._signature = signature
                    if signature is None:
                        self._accounts = []
                    else:
                        self._load()
                    log.info("accounts reloaded from %s: %d account(s)", self.source, len(self._accounts))
        return self._accounts
