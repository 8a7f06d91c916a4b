"""One step's result, and how a raw upstream answer is read into one: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from qwen_server.core.numbers import whole_number
from qwen_server.doctor.hints import hint
from qwen_server.providers.qwen_web import outdated, waf

OK, FAILED, NOT_TRIED = "ok", "failed", "not tried"


@dataclass(slots=True)
class StepResult:
    account: str
    step: str
    state: str  # ok | failed | not tried
    http: int | None = None
    actual: str | None = None  # the x-actual-status-code header, when the upstream sent one
    outcome: str = ""  # what came back
    seconds: float | None = None
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Failure(Exception):
    """A step that failed: what came back, and the kind of advice it needs (a key of `hints.HINTS`)."""

    def __init__(self, outcome: str, kind: str, http: int | None = None, actual: str | None = None) -> None:
        super().__init__(outcome)
        self.outcome, self.kind, self.http, self.actual = outcome, kind, http, actual
        self.advice = ""  # advice of this very failure, instead of the kind's (`hints.HINTS`)


def json_of(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def error_code(payload: Any) -> tuple[str, str]:
    """(code, details) of a JSON error answer in any of the web API's shapes."""
    if not isinstance(payload, dict):
        return "", ""
    raw_data, raw_err = payload.get("data"), payload.get("error")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
    code = str(data.get("code") or err.get("code") or payload.get("code") or "")
    details = str(
        data.get("details") or err.get("details") or payload.get("details") or payload.get("detail") or ""
    )
    if not code and isinstance(payload.get("error"), str):
        details = payload["error"]
    return code, details


def check(status: int, headers: dict[str, str], body: bytes, *, write: bool = False) -> Any:
    """The JSON payload of a successful answer; raises `Failure` saying what came back instead.

    `write`: a write endpoint, where HTTP 200 with `Bad_Request` usually means a stale `version` header."""
    actual = headers.get("x-actual-status-code")
    blocked = waf.diagnose(status, headers, body)
    if blocked is not None:
        raise Failure(blocked.describe(), blocked.kind, status, actual)
    payload = json_of(body)
    code, details = error_code(payload)
    shown = _shown(code, details)
    shown_status = whole_number(actual)
    real = status if shown_status is None else shown_status
    text = body[:200].decode("utf-8", errors="replace")
    if real >= 400 or (isinstance(payload, dict) and payload.get("success") is False):
        kind = _kind(real, code, details, write)
        raise Failure(f"HTTP {real}" + (f" {shown}" if shown else ""), kind, status, actual)
    if payload is None:
        what = "an HTML page" if text.lstrip().startswith("<") else "a body that is not JSON"
        raise Failure(what, "unexpected", status, actual)
    return payload


def _shown(code: str, details: str) -> str:
    details = details.replace("\n", " ")
    return (code + (f": {details[:80]}" if details else "")).strip()


def _kind(status: int, code: str, details: str, write: bool) -> str:
    lowered = f"{code} {details}".lower()
    if outdated.is_refusal(lowered):
        return "client_outdated"
    if status == 429 or "ratelimit" in lowered.replace("_", ""):
        return "rate_limited"
    if status in (401, 403) or "not authenticated" in lowered or "unauthorized" in lowered:
        return "unauthorized"
    if "model" in lowered and ("not found" in lowered or "not_found" in lowered or "allowed" in lowered):
        return "model"
    if status == 404 or code == "Not_Found":
        return "not_found"
    if status >= 500:
        return "server"
    if code == "Bad_Request":
        stale = not details or "version" in details.lower() or "header" in details.lower()
        return "version" if write and status == 200 and stale else "bad_request"
    return "unexpected"


def failed(account: str, step: str, failure: Failure, seconds: float) -> StepResult:
    advice = failure.advice or hint(failure.kind)
    return StepResult(account, step, FAILED, failure.http, failure.actual, failure.outcome, seconds, advice)
