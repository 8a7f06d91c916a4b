"""The web protocol as data: overrides, WAF recognition, browser sessions and the upstream's cookies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_server.core.errors import UpstreamBlocked, UpstreamRateLimited
from qwen_server.pool import health
from qwen_server.providers.qwen_web import protocol, session, waf, wire
from qwen_server.providers.qwen_web.headers import build_headers
from qwen_server.providers.qwen_web.jar import parse_set_cookies


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    protocol.configure(None)


def test_overrides_deep_merge_and_null_removes() -> None:
    spec = protocol.configure(
        json.dumps(
            {
                "paths": {"completions": "/api/v3/chat/completions"},
                "headers": {"version": "0.2.91", "sec-ch-ua-mobile": None},
                "completion": {"version": "2.2"},
            }
        )
    )
    assert spec.path("completions") == "/api/v3/chat/completions"
    assert spec.path("signin") == "/api/v2/auths/signin", "untouched keys stay"
    assert spec.overridden == ("completion", "headers", "paths")
    headers = build_headers("https://chat.qwen.ai", token="t")
    assert headers["version"] == "0.2.91" and "sec-ch-ua-mobile" not in headers
    body = wire.completion_body(chat_id="c", model="m", content="x", thinking=False, thinking_budget=None)
    assert body["version"] == "2.2" and body["incremental_output"] is True


def test_overrides_from_a_file(tmp_path: Path) -> None:
    file = tmp_path / "protocol.json"
    file.write_text(json.dumps({"paths": {"models": "/api/v2/models"}}))
    assert protocol.configure(str(file)).path("models") == "/api/v2/models"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("{not json", "not valid JSON"),
        ("/nonexistent/protocol.json", "neither a JSON object nor a readable file"),
        ('{"paths": {"models": "api/models"}}', "paths.models"),
        ('{"headers": {"version": 2}}', "headers.version"),
        ('{"signatures": {"captcha": "x5sec"}}', "signatures.captcha"),
    ],
)
def test_unusable_overrides_are_named(raw: str, named: str) -> None:
    with pytest.raises(protocol.ProtocolError, match="QWEN_PROTOCOL_OVERRIDES") as caught:
        protocol.load(raw)
    assert named in str(caught.value)


def test_media_paths_are_in_the_data() -> None:
    spec = protocol.current()
    assert spec.path("sts_token") == "/api/v2/files/getstsToken"
    assert spec.path("file_parse_status") == "/api/v2/files/parse/status"
    assert spec.path("task_status", task_id="abc") == "/api/v2/task/status/abc"
    assert spec.path("tts") == "/api/v2/tts/completions"
    assert wire.STS_TOKEN_PATH == spec.path("sts_token") and wire.COMPLETIONS_PATH == spec.path("completions")


CAPTCHA = b'{"ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::busy"], "data": {"url": "/punish?x5secdata=1"}}'


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "marker"),
    [
        (200, {"content-type": "text/html"}, b"<html><script>var _waf_={'type':'aliyun_waf'}</script>", "waf_page", "aliyun_waf"),
        (405, {}, b"<!DOCTYPE html><html>acw_sc__v2 challenge</html>", "waf_page", "acw_sc__v2"),
        (200, {"content-type": "application/json"}, CAPTCHA, "captcha", "FAIL_SYS_USER_VALIDATE"),
        (200, {}, b'{"ret": ["RGV587_ERROR::SM"]}', "waf_code", "RGV587_ERROR"),
    ],
)
def test_bot_protection_is_recognised(
    status: int, headers: dict[str, str], body: bytes, kind: str, marker: str
) -> None:
    found = waf.diagnose(status, headers, body)
    assert found is not None and (found.kind, found.marker) == (kind, marker)
    error = wire.classify_response(max(status, 400), body, headers)
    assert isinstance(error, UpstreamBlocked)
    assert "bot protection" in error.message and "qwen-server doctor" in error.message
    assert health.classify(error) is health.FailureKind.BLOCKED, "a cooldown, never a credential strike"


def test_content_is_never_read_as_a_captcha() -> None:
    models = b'{"data": [{"id": "captcha-solver", "name": "x5sec punish"}]}'
    assert waf.diagnose(200, {"content-type": "application/json"}, models) is None
    assert isinstance(wire.classify_code("RateLimited", "daily usage limit"), UpstreamRateLimited)


def test_a_signature_override_recognises_a_new_code() -> None:
    body = b'{"success": false, "data": {"code": "BOT_WALL_42"}}'
    assert waf.diagnose(200, {}, body) is None
    protocol.configure('{"signatures": {"waf_codes": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR", "BOT_WALL"]}}')
    assert waf.diagnose(200, {}, body) == waf.Diagnosis("waf_code", "BOT_WALL")


def test_a_cookie_string_is_a_session() -> None:
    read = session.from_cookie("Cookie: token=eyJ.tok.sig; acw_tc=abc; ssxmod_itna=q=1")
    assert read.token == "eyJ.tok.sig"
    assert read.cookies == {"acw_tc": "abc", "ssxmod_itna": "q=1"}
    with pytest.raises(session.SessionError):
        session.from_cookie("no pairs here")


CURL = r"""curl 'https://chat.qwen.ai/api/v2/chats/new' \
  -H 'accept: application/json' \
  -H 'bx-ua: 231!fingerprint' \
  -H 'bx-umidtoken: T2gA-umid' \
  -H 'bx-v: 2.5.36' \
  -b 'token=eyJ.curl.sig; acw_tc=tc1; x-ap=ap-southeast-1' \
  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/142.0.0.0 Safari/537.36' \
  --data-raw '{"title":"New Chat"}'"""


def test_a_curl_command_is_a_session() -> None:
    read = session.from_curl(CURL)
    assert read.token == "eyJ.curl.sig"
    assert read.cookies == {"acw_tc": "tc1", "x-ap": "ap-southeast-1"}
    assert read.headers == {"bx-ua": "231!fingerprint", "bx-umidtoken": "T2gA-umid", "bx-v": "2.5.36"}
    assert read.user_agent is not None and "Linux" in read.user_agent
    assert read.origin == "https://chat.qwen.ai"
    assert "eyJ" not in read.summary() and "tc1" not in read.summary()


def test_a_session_entry_becomes_account_fields() -> None:
    from qwen_server.pool.registry import AccountConfigError, parse_entry

    account = parse_entry({"curl": CURL, "name": "browser"}, 0)
    assert (account.token, account.base_url) == ("eyJ.curl.sig", "https://chat.qwen.ai")
    assert dict(account.cookies)["acw_tc"] == "tc1" and dict(account.headers)["bx-v"] == "2.5.36"
    assert "eyJ" not in repr(account) and "tc1" not in repr(account)
    with pytest.raises(AccountConfigError, match="account #0"):
        parse_entry({"cookie": "acw_tc=only-waf-cookies"}, 0)
    headers = build_headers(
        account.base_url, token=account.token, cookies=dict(account.cookies), anti_bot=dict(account.headers)
    )
    assert headers["Cookie"] == "acw_tc=tc1; x-ap=ap-southeast-1; token=eyJ.curl.sig"
    assert headers["bx-ua"] == "231!fingerprint"


def test_set_cookies_are_kept_without_the_token() -> None:
    kept, gone = parse_set_cookies(
        [
            "acw_tc=new; Path=/; Max-Age=1800; HttpOnly",
            "token=eyJ.fresh; Path=/",
            "ssxmod_itna=; Max-Age=0",
        ]
    )
    assert kept == {"acw_tc": "new"} and gone == {"ssxmod_itna"}


def test_overrides_are_read_from_dotenv_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_server.config import get_settings

    monkeypatch.delenv(protocol.OVERRIDES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('QWEN_PROTOCOL_OVERRIDES={"headers": {"version": "0.9.9"}}\n')
    get_settings.cache_clear()
    try:
        assert protocol.load_from_env().version == "0.9.9"
        monkeypatch.setenv(protocol.OVERRIDES_ENV, '{"headers": {"version": "1.0.0"}}')
        assert protocol.load_from_env().version == "1.0.0", "the environment wins over .env"
    finally:
        get_settings.cache_clear()
