"""Sign-in (v1 and v2), the token check and the model list, over real HTTP."""

from __future__ import annotations

import base64
import time

import httpx
import orjson

from tests.emulator.emulator_harness import WebClient, email, password_hash


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return dict(orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_signin_v2_puts_the_token_only_in_the_cookie(emu: str) -> None:
    response = httpx.post(
        f"{emu}/api/v2/auths/signin", json={"email": email(1), "password": password_hash(1)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == email(1) and body["role"] == "user" and body["id"]
    assert "token" not in body
    token = response.cookies["token"]
    assert len(token.split(".")) == 3 and 150 <= len(token) <= 300
    exp = _payload(token)["exp"]
    assert isinstance(exp, int) and abs(exp - (time.time() + 30 * 86400)) < 60


def test_signin_v1_also_answers_the_token_in_the_body(emu: str) -> None:
    response = httpx.post(
        f"{emu}/api/v1/auths/signin", json={"email": email(2), "password": password_hash(2)}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["token"] == response.cookies["token"]
    assert abs(body["expires_at"] - (time.time() + 30 * 86400)) < 60


def test_wrong_or_unhashed_password_is_refused_with_a_detail(emu: str) -> None:
    for password in (password_hash(0)[:-1] + "0", "password0", password_hash(1)):
        response = httpx.post(f"{emu}/api/v2/auths/signin", json={"email": email(0), "password": password})
        assert response.status_code == 400
        assert response.json()["detail"]
        assert "token" not in response.cookies
    unknown = httpx.post(
        f"{emu}/api/v2/auths/signin", json={"email": "nobody@x", "password": password_hash(0)}
    )
    assert unknown.status_code == 400


def test_token_check_accepts_cookie_and_bearer_only_when_valid(client: WebClient) -> None:
    http, token = client.http, client.token
    assert http.get("/api/v1/auths/", headers={"cookie": f"token={token}"}).json()["email"] == email(0)
    assert http.get("/api/v1/auths/", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert token is not None
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for headers in ({}, {"cookie": f"token={tampered}"}, {"authorization": "Bearer nonsense"}):
        response = http.get("/api/v1/auths/", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}


def test_models_list_the_documented_ids_with_meta(client: WebClient) -> None:
    assert client.http.get("/api/models").status_code == 401
    data = client.http.get("/api/models", headers=client.auth).json()["data"]
    ids = {m["id"] for m in data}
    assert ids == {
        "qwen3-max",
        "qwen3-max-2025-09-23",
        "qwen3-coder-plus",
        "qwen-plus",
        "qwen3-vl-plus",
        "qwq-32b",
        "qwen3.7-plus",
        "qwen3-omni-flash",
    }
    for model in data:
        meta = model["info"]["meta"]
        assert model["name"] and model["owned_by"] == "qwen"
        assert {"thinking", "vision", "document"} <= set(meta["capabilities"])
        assert meta["max_context_length"] > 0 and meta["max_generation_length"] > 0
        assert "t2t" in meta["chat_type"]
        assert meta["max_thinking_generation_length"] >= 0
    vl = next(m for m in data if m["id"] == "qwen3-vl-plus")
    assert vl["info"]["meta"]["capabilities"]["vision"] is True


def test_expired_tokens_answer_401_until_the_client_signs_in_again(client: WebClient) -> None:
    chat = client.new_chat()
    assert client.control("expire-tokens", {"account": email(0)}).json() == {"expired": [email(0)]}
    assert client.complete("hi", chat_id=chat).status == 401
    assert client.http.get("/api/v1/auths/", headers=client.auth).status_code == 401
    client.signin()
    assert client.complete("hi", chat_id=chat).answer() == "hi"
    assert client.stats()["accounts"][email(0)]["tokens_issued"] == 2
