"""A signed-in browser's session as an account: a `Cookie` header string or a "Copy as cURL" command.

Where the WAF refuses plain HTTP clients, the session of a browser that passed its checks still works: the
`token` cookie is the credential, the WAF cookies (`acw_tc`, `x-ap`, `ssxmod_itna*`, `acw_sc__v2`) and the
`bx-*` headers its script produced go along, with the browser's user agent. Pure parsing; no I/O.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TOKEN_COOKIE = "token"
# headers a browser session carries that the WAF looks at (copied from a cURL command as they are)
SESSION_HEADERS = ("bx-v", "bx-ua", "bx-umidtoken", "bx-et", "bx-pp")


class SessionError(ValueError):
    """A cookie string or cURL command that cannot be read; the message never quotes a value."""


@dataclass(frozen=True, slots=True)
class BrowserSession:
    token: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)  # without the token
    headers: dict[str, str] = field(default_factory=dict)  # bx-* and the like, lower-case names
    user_agent: str | None = None
    origin: str | None = None  # scheme://host of the copied request

    def summary(self) -> str:
        """What was read, by name only (for logs and the doctor)."""
        names = sorted(self.cookies) + sorted(self.headers)
        ua = "user agent" if self.user_agent else "no user agent"
        return f"token {'present' if self.token else 'absent'}; {', '.join(names) or 'nothing else'}; {ua}"


def parse_cookie_header(text: str) -> dict[str, str]:
    """`name=value; name2=value2` (an optional leading `Cookie:`) as a dict, in order."""
    text = text.strip()
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:") :]
    cookies: dict[str, str] = {}
    for piece in text.split(";"):
        name, sep, value = piece.strip().partition("=")
        if sep and name.strip():
            cookies[name.strip()] = value.strip().strip('"')
    return cookies


def from_cookie(text: str) -> BrowserSession:
    cookies = parse_cookie_header(text)
    if not cookies:
        raise SessionError("the cookie string holds no name=value pairs")
    token = cookies.pop(TOKEN_COOKIE, None) or None
    return BrowserSession(token=token, cookies=cookies)


def _curl_words(command: str) -> list[str]:
    joined = command.replace("\\\r\n", " ").replace("\\\n", " ")
    try:
        words = shlex.split(joined)
    except ValueError as exc:
        raise SessionError(f"the cURL command cannot be split into words ({exc})") from None
    if not words or words[0] != "curl":
        raise SessionError("expected a command starting with `curl` (the browser's 'Copy as cURL (bash)')")
    return words[1:]


def from_curl(command: str) -> BrowserSession:
    """Token, cookies, session headers, user agent and origin from a browser's "Copy as cURL (bash)"."""
    words = _curl_words(command)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    url: str | None = None
    takes_value = {"-X", "--request", "--data", "--data-raw", "--data-binary", "-d", "--compressed-ssh"}
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word in ("-H", "--header"):
            name, _, rest = value.partition(":")
            headers[name.strip().lower()] = rest.strip()
            i += 2
        elif word in ("-b", "--cookie"):
            cookies.update(parse_cookie_header(value))
            i += 2
        elif word in ("-A", "--user-agent"):
            headers["user-agent"] = value
            i += 2
        elif word == "--url":
            url = value
            i += 2
        elif word in takes_value:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            url = url or word
            i += 1
    cookies.update(parse_cookie_header(headers.pop("cookie", "")))
    token = cookies.pop(TOKEN_COOKIE, None) or None
    authorization = headers.get("authorization", "")
    if not token and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip() or None
    origin = None
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
    return BrowserSession(
        token=token,
        cookies=cookies,
        headers={k: v for k, v in headers.items() if k in SESSION_HEADERS and v},
        user_agent=headers.get("user-agent") or None,
        origin=origin,
    )


def entry_fields(raw: dict[str, Any], position: int) -> dict[str, Any]:
    """The account fields a `cookie` or `curl` entry stands for (token, cookies, headers, user agent,
    base_url when the entry names none); {} for an entry without either."""
    cookie, curl = raw.get("cookie"), raw.get("curl")
    if cookie is None and curl is None:
        return {}
    try:
        if curl is not None:
            if not isinstance(curl, str):
                raise SessionError("`curl` must be a string")
            session = from_curl(curl)
        else:
            if not isinstance(cookie, str):
                raise SessionError("`cookie` must be a string")
            session = from_cookie(cookie)
    except SessionError as exc:
        raise SessionError(f"account #{position}: {exc}") from None
    fields: dict[str, Any] = {
        "cookies": tuple(session.cookies.items()),
        "headers": tuple(session.headers.items()),
        "user_agent": raw.get("user_agent") or session.user_agent,
    }
    if session.token and not raw.get("token"):
        fields["token"] = session.token
    if session.origin and not raw.get("base_url"):
        fields["base_url"] = session.origin
    return fields
