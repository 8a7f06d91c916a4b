"""Upstream error text, cleaned of what a client must never read.

An upstream's error message is passed on to help the client (a rate limit's wording, a refused parameter),
but upstreams put anything in it: a masked key ("sk-ab***wxyz"), the account's e-mail, an internal host and
port, a file path from a stack trace, a URL with credentials. `clean` replaces those with placeholders:

- the values of the configured accounts (names, e-mails, passwords, tokens, API keys, base URL hosts), from
  the source `watch` registers (the account registry, so a reload is seen at once);
- whatever looks like one of them: URLs, e-mail addresses, IP addresses and host:port pairs, dotted host
  names, absolute paths, JWTs, `sk-`-style and masked keys, bearer tokens, long opaque strings.

It runs where upstream errors are made (`core.errors.UpstreamError`, `StoreUnavailable`), so the client's
error body, an in-stream error event and the log line all carry the cleaned text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit


def url_without_credentials(url: str) -> str:
    """A configured URL as it may be shown (metrics, logs): no user name or password, query or fragment."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "[url]"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{f':{port}' if port else ''}{parts.path}"


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "[url]"),
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer [token]"),
    (re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"), "[token]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"\b(?:sk|pk|rk|ak|key)-[\w*.-]{3,}", re.I), "[key]"),
    (re.compile(r"\S*\*{3,}\S*"), "[key]"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "[host]"),
    (re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*:\d{2,5}\b", re.I), "[host]"),
    (
        re.compile(
            r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|cn|local|internal|cloud|dev|site|app|lan)\b", re.I
        ),
        "[host]",
    ),
    (re.compile(r"(?<![\w.])(?:/[\w.@~+-]+){2,}/?"), "[path]"),
    (re.compile(r"\b[A-Za-z0-9_-]{32,}\b"), "[redacted]"),
)
_MIN_KNOWN = 4  # shorter configured values (a name like "a") would redact ordinary words

Source = Callable[[], Iterable[Any]]
_source: Source | None = None
_known: tuple[str, ...] = ()
_known_from: object = None


def watch(source: Source) -> None:
    """Take the configured accounts from `source` (called on each `clean`; cheap when it returns the same
    list as last time)."""
    global _source, _known_from
    _source, _known_from = source, None


def _values(account: Any) -> Iterable[str]:
    for attr in ("name", "email", "password", "token", "api_key"):
        value = getattr(account, attr, None)
        if isinstance(value, str):
            yield value
    base_url = getattr(account, "base_url", None)
    if isinstance(base_url, str):
        host = urlsplit(base_url).netloc
        if host:
            yield host
            yield host.rsplit("@", 1)[-1]


def _known_values() -> tuple[str, ...]:
    global _known, _known_from
    if _source is None:
        return ()
    accounts = _source()
    if accounts is not _known_from:
        values = {v for account in accounts for v in _values(account) if len(v) >= _MIN_KNOWN}
        _known = tuple(
            sorted(values, key=len, reverse=True)
        )  # longest first: a host before its port-less form
        _known_from = accounts
    return _known


def _cut_tail(text: str, value: str) -> str:
    """`text` without a trailing start of `value` (a message truncated in the middle of a secret)."""
    for size in range(min(len(value) - 1, len(text)), _MIN_KNOWN - 1, -1):
        if text.endswith(value[:size]):
            return text[: len(text) - size] + "[redacted]"
    return text


def clean(text: str) -> str:
    """`text` without configured secrets or anything shaped like a secret, host or path."""
    for value in _known_values():
        if value in text:
            text = text.replace(value, "[redacted]")
        text = _cut_tail(text, value)
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text
