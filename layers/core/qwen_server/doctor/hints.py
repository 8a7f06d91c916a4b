"""What to try, by what came back: one table, so advice is edited in one place."""

from __future__ import annotations

HINTS: dict[str, str] = {
    "waf_page": (
        "the bot protection refused this client: give the account as a browser session (`cookie` or `curl`), "
        "refresh QWEN_BX_* from a fresh capture, or run `qwen-server login`"
    ),
    "captcha": (
        "a slider captcha: sign in once in a browser and give its session (`cookie` / `curl`, with its bx-* "
        "headers), or run `qwen-server login`; wait a few minutes between sign-ins"
    ),
    "waf_code": "the bot protection refused the request: send the full header set and fresh bx-* values",
    "timeout": "no answer in time: check base_url and the network, or raise --timeout",
    "connect": "cannot connect: check base_url, DNS and any proxy",
    "unauthorized": "the credential is refused: check the password, or copy a fresh token / session",
    "not_found": (
        "the path may have moved: compare with a fresh browser capture and set "
        "QWEN_PROTOCOL_OVERRIDES='{\"paths\": {\"<step path>\": \"/new/path\"}}'"
    ),
    "version": (
        "HTTP 200 with Bad_Request on a write endpoint: the `version` header in force may be stale; read the "
        "web app's current one and set QWEN_PROTOCOL_OVERRIDES='{\"headers\": {\"version\": \"…\"}}'"
    ),
    "client_outdated": (
        "client version too old: read the `version` header of any chat request in the web app's developer tools "
        "and set QWEN_PROTOCOL_OVERRIDES='{\"headers\": {\"version\": \"…\"}}'"
    ),
    "bad_request": "the upstream refused the payload: a field may have been renamed (QWEN_PROTOCOL_OVERRIDES)",
    "rate_limited": "the account's quota or rate limit is spent: wait, or use another account",
    "model": "the model is unknown or not allowed for this account: pick another with --model",
    "server": "the upstream failed: retry later",
    "unexpected": "an answer the gateway does not understand: compare with a fresh browser capture",
    "no_token": "the answer carried no token: sign in in a browser and give its session instead",
    "not_built": "this upstream has no such endpoint here (HTTP 404); media and uploads need it",
    "media_quota": (
        "the account's daily image/video quota is spent: wait for the reset shown, route media to another "
        "account, or leave this flow out of --media"
    ),
    "video_running": (
        "the video was accepted and is being made, but did not finish in time (upstream videos take minutes): "
        "raise --timeout (e.g. --timeout 400) to wait for it"
    ),
}


def hint(kind: str) -> str:
    return HINTS.get(kind, HINTS["unexpected"])
