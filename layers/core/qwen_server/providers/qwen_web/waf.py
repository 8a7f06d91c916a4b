"""Recognising the upstream's bot protection: a WAF page, a slider captcha, or a JSON code naming it.

Alibaba's WAF answers an HTML challenge page (`aliyun_waf`, the `acw_sc__v2` cookie script), or, on the API
gateway in front of the web app, JSON such as `{"ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::..."],
"data": {"url": ".../punish?x5secdata=..."}}` (a slider captcha). None of these is the account's fault: they
become `UpstreamBlocked` (a short cooldown, never a credential strike), and the client is told that the bot
protection refused the request and that `qwen-server doctor` shows where. The markers are data
(`signatures` in `protocol.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from qwen_server.core.errors import UpstreamBlocked
from qwen_server.providers.qwen_web import protocol

LABELS = {"waf_page": "WAF page", "captcha": "captcha", "waf_code": "WAF code"}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: str  # waf_page | captcha | waf_code
    marker: str  # the signature that matched

    def describe(self) -> str:
        return f"{LABELS[self.kind]} ({self.marker})"


def _is_html(headers: dict[str, str], text: str) -> bool:
    head = text.lstrip()[:20].lower()
    return "text/html" in headers.get("content-type", "") or head.startswith(("<!doctype", "<html"))


def _codes(payload: Any) -> str:
    """The code-like fields of a JSON answer (`ret`, `code`, `data.code`, `error.code`, `msg`), joined: the
    places a gateway puts a refusal, never the content (a model list may mention anything)."""
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    ret = payload.get("ret")
    if isinstance(ret, list):
        parts.extend(str(r) for r in ret)
    for holder in (payload, payload.get("data"), payload.get("error")):
        if isinstance(holder, dict):
            for key in ("code", "msg", "url"):
                value = holder.get(key)
                if isinstance(value, str):
                    parts.append(value)
    return " ".join(parts)


def diagnose_text(text: str) -> Diagnosis | None:
    """A refusal code (or captcha marker) in an error's code and details."""
    spec = protocol.current()
    code = spec.matches("waf_codes", text)
    captcha = spec.matches("captcha", text)
    if captcha or code == "fail_sys_user_validate":
        return Diagnosis("captcha", code.upper() if code else str(captcha))
    if code:
        return Diagnosis("waf_code", code.upper())
    page = spec.matches("waf_page", text)
    return Diagnosis("waf_code", page) if page else None


def diagnose(status: int, headers: dict[str, str], body: bytes) -> Diagnosis | None:
    """What kind of bot-protection answer `body` is, None when it is none."""
    text = body[:8000].decode("utf-8", errors="replace")
    spec = protocol.current()
    if _is_html(headers, text):
        marker = spec.matches("waf_page", text) or spec.matches("waf_codes", text)
        if marker:
            return Diagnosis("waf_page", marker)
        captcha = spec.matches("captcha", text)
        return Diagnosis("captcha", captcha) if captcha else None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    codes = _codes(payload)
    return diagnose_text(codes) if codes else None


def client_message(what: str) -> str:
    return (
        f"the upstream's bot protection refused the request ({what}); this is not the account's fault. "
        "Run `qwen-server doctor` to see which step it blocks and what to try"
    )


def blocked_error(diagnosis: Diagnosis) -> UpstreamBlocked:
    error = UpstreamBlocked(client_message(diagnosis.describe()))
    error.diagnosis = diagnosis  # type: ignore[attr-defined]
    return error
