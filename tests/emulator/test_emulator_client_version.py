"""The emulated web app's version: its page and scripts name it, older clients are refused as the real one
refuses them (three shapes, two languages), and the payload fields some clients send are accepted either way.
Also why the gateway's token check keeps the trailing slash of `GET /api/v1/auths/`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulator.emulator_harness import WebClient, completion_body, emulator_process

OUTDATED_ZH = "你正在使用较早版本，为了获得更好的对话体验，请升级至最新版。"  # noqa: RUF001 (the upstream's punctuation)


@pytest.fixture(scope="module")
def gated() -> Iterator[str]:
    with emulator_process("--accounts", "1", "--require-version", "0.2.66") as base:
        yield base


@pytest.fixture
def web(gated: str) -> Iterator[WebClient]:
    client = WebClient(gated, 0)
    assert client.signin().status_code == 200
    start = {"required": "0.2.66", "shape": "json", "language": "zh", "where": ["completions"], "page": True}
    client.http.post("/_emulator/client-version", json=start)
    yield client
    client.close()


def settings(web: WebClient, **changes: Any) -> dict[str, Any]:
    response = web.http.post("/_emulator/client-version", json=changes)
    assert response.status_code == 200, response.text
    return dict(response.json())


def with_version(web: WebClient, version: str) -> dict[str, str]:
    return {**web.auth, "version": version, "accept": "text/event-stream"}


def test_the_page_and_its_app_script_name_the_version_a_vendor_script_does_not(web: WebClient) -> None:
    page = web.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text)
    assert len(sources) == 2
    vendor, app = (web.http.get(src.split("?")[0]).text for src in sources)
    assert 'version:"18.3.1"' in vendor and "source" not in vendor, "a decoy a loose pattern would take"
    assert 'source:"web",version:"0.2.66"' in app
    settings(web, page=False)
    app_unversioned = web.http.get(sources[1].split("?")[0]).text
    assert "0.2.66" not in app_unversioned and 'source:"web"' in app_unversioned
    assert web.http.get("/static/js/unknown.js").status_code == 404


@pytest.mark.parametrize(("shape", "language"), [("json", "zh"), ("sse", "zh"), ("answer", "en")])
def test_an_older_version_is_refused_in_each_shape(web: WebClient, shape: str, language: str) -> None:
    before = settings(web, shape=shape, language=language)["refused"].get("0.2.0", 0)
    reply = web.complete("hello", headers=with_version(web, "0.2.0"))
    assert reply.status == 200
    expected = OUTDATED_ZH if language == "zh" else "You are using an older version."
    if shape == "json":
        assert reply.headers["content-type"].startswith("application/json")
        body = httpx.Response(200, text=reply.text).json()
        assert body["success"] is False and body["data"]["code"] == "Bad_Request"
        assert body["data"]["details"] == OUTDATED_ZH
    elif shape == "sse":
        assert reply.events == [{"error": {"code": "Bad_Request", "details": OUTDATED_ZH}}]
    else:
        pieces = [d["content"] for d in reply.deltas("answer") if d["content"]]
        assert len(pieces) > 3, "the refusal arrives in pieces, as answer text does"
        assert reply.answer().startswith(expected)
        assert reply.deltas("answer")[-1]["status"] == "finished"
    assert settings(web)["refused"]["0.2.0"] == before + 1


def test_the_required_version_or_newer_passes_and_no_header_gets_the_routes_answer(web: WebClient) -> None:
    assert web.complete("same", headers=with_version(web, "0.2.66")).answer() == "same"
    assert web.complete("newer", headers=with_version(web, "0.3.1")).answer() == "newer"
    missing = web.complete("none", headers={**web.auth, "accept": "text/event-stream"})
    assert "header is missing" in missing.text, "no version header at all: the write endpoint's own refusal"
    state = settings(web)
    assert state["passed"]["0.2.66"] >= 1 and state["passed"]["0.3.1"] >= 1
    assert settings(web, required=None)["web_version"] == "0.2.0", "without a requirement: the protocol's"
    assert web.complete("anything", headers=with_version(web, "0.2.0")).answer() == "anything"


def test_chat_creation_is_refused_too_when_listed(web: WebClient) -> None:
    settings(web, where=["completions", "new_chat"], shape="sse")
    try:
        refused = web.http.post("/api/v2/chats/new", json={"models": ["qwen3-max"]}, headers=with_version(web, "0.2.0"))
        assert refused.json()["data"]["details"] == OUTDATED_ZH, "chat creation answers JSON whatever the shape"
        created = web.http.post("/api/v2/chats/new", json={"models": ["qwen3-max"]}, headers=with_version(web, "0.2.66"))
        assert created.json()["success"] is True
    finally:
        settings(web, where=["completions"])


@pytest.mark.parametrize(
    "changes",
    [{"required": "latest"}, {"shape": "html"}, {"language": "fr"}, {"where": ["signin"]}, {"page": "yes"}, {"x": 1}],
)
def test_control_refuses_settings_it_cannot_apply(web: WebClient, changes: dict[str, Any]) -> None:
    response = web.http.post("/_emulator/client-version", json=changes)
    assert response.status_code == 400 and next(iter(changes)) in response.json()["error"]


# ---- payload fields some clients add (June 2026) ---------------------------------------------------------
def _body(web: WebClient, chat_id: str, **message_fields: Any) -> dict[str, Any]:
    body = completion_body(chat_id, "fields")
    body["messages"][0].update(message_fields)
    return body


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"version": "2.1", "project_id": "", "extra": {"meta": {"subChatType": "t2t"}}},
        {"project_id": None, "extra": {}},
    ],
)
def test_payload_fields_are_accepted_with_or_without_them(web: WebClient, fields: dict[str, Any]) -> None:
    new_chat = {"models": ["qwen3-max"], "timestamp": 1_760_000_000_000, **({"project_id": ""} if fields else {})}
    chat_id = web.http.post("/api/v2/chats/new", json=new_chat, headers=with_version(web, "0.2.66")).json()["data"]["id"]
    body = _body(web, chat_id, **fields)
    if "extra" not in fields:
        body["messages"][0].pop("extra")
    answer = web.http.post(
        "/api/v2/chat/completions", params={"chat_id": chat_id}, json=body, headers=with_version(web, "0.2.66")
    )
    assert "fields" in answer.text and '"success":false' not in answer.text.replace(" ", "")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"version": 2}, "messages[0].version"),
        ({"project_id": 7}, "messages[0].project_id"),
        ({"extra": {"meta": {"subChatType": "search"}}}, "subChatType"),
    ],
)
def test_payload_fields_of_the_wrong_kind_are_a_bad_request(
    web: WebClient, fields: dict[str, Any], named: str
) -> None:
    chat_id = web.new_chat()
    answer = web.http.post(
        "/api/v2/chat/completions",
        params={"chat_id": chat_id},
        json=_body(web, chat_id, **fields),
        headers=with_version(web, "0.2.66"),
    ).json()
    assert answer["data"]["code"] == "Bad_Request" and named in answer["data"]["details"]
    refused = web.http.post("/api/v2/chats/new", json={"models": ["qwen3-max"], "project_id": 3}, headers=web.auth)
    assert "project_id" in refused.json()["data"]["details"]


# ---- the token check's trailing slash --------------------------------------------------------------------
def test_the_token_check_needs_its_trailing_slash(web: WebClient) -> None:
    """Why `paths.whoami` is `/api/v1/auths/` with the slash: without it the web app answers 401 even to a
    valid token (no redirect), so a client that drops the slash would condemn every good credential."""
    assert web.http.get("/api/v1/auths/", headers=web.auth).status_code == 200
    unslashed = web.http.get("/api/v1/auths", headers=web.auth)
    assert unslashed.status_code == 401 and unslashed.json() == {"detail": "Not authenticated"}
