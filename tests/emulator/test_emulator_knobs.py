"""Latency and failure knobs: live through the control API and from the command line."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import orjson
import pytest

from tests.emulator.emulator_harness import WebClient, email, emulator_process


def test_fail_500_and_429_knobs_apply_to_the_named_account_only(client: WebClient, emu: str) -> None:
    client.control("knobs", {"account": email(0), "fail_500": 1.0})
    other = WebClient(emu, 1)
    other.signin()
    assert client.complete("hi").status == 500
    assert other.complete("hi").answer() == "hi"
    client.control("knobs", {"account": 0, "fail_500": 0.0, "fail_429": 1.0, "retry_after": 7})
    limited = client.complete("hi")
    assert limited.status == 429 and limited.headers["retry-after"] == "7"
    assert orjson.loads(limited.text)["data"]["code"] == "RateLimited"
    assert client.stats()["accounts"][email(0)]["errors"] == {"500": 1, "429": 1}
    other.close()


def test_a_scripted_reply_wins_over_the_knobs(client: WebClient) -> None:
    client.control("knobs", {"account": None, "fail_500": 1.0})
    assert client.complete('[[emulator:{"reply": "fine"}]]').status == 500  # a reply is not an error
    assert client.complete('[[emulator:{"error": "429"}]]').status == 429


def test_fail_401_knob_expires_the_token(client: WebClient) -> None:
    chat = client.new_chat()
    client.control("knobs", {"account": None, "fail_401": 1.0})
    assert client.complete("hi", chat_id=chat).status == 401
    client.control("knobs", {"account": None, "fail_401": 0.0})
    assert client.complete("hi", chat_id=chat).status == 401  # the token stays invalid
    assert client.http.post("/api/v2/chats/new", json={}, headers=client.auth).status_code == 401
    client.signin()
    assert client.complete("hi").status == 200


def test_drop_and_hang_knobs(client: WebClient) -> None:
    client.control("knobs", {"drop": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        client.complete("one two three four")
    client.control("knobs", {"drop": 0.0, "hang": 1.0})
    client.http.timeout = httpx.Timeout(0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.complete("hi")
    assert client.stats()["errors"] == {"drop": 1, "hang": 1}


def test_latency_knobs_pace_the_stream(client: WebClient) -> None:
    client.control("knobs", {"first_token_latency": 0.3, "token_latency": 0.05})
    start = time.monotonic()
    reply = client.complete("a b c d e")
    elapsed = time.monotonic() - start
    assert reply.answer() == "a b c d e"
    assert elapsed >= 0.5  # 0.3 + 4 x 0.05 at least...
    assert elapsed < 10, "...and not stuck (a loose bound: the machine may be busy)"


def test_rates_mix_outcomes_reproducibly_with_a_seed(client: WebClient) -> None:
    client.control("knobs", {"fail_500": 0.5})
    outcomes = Counter(client.complete("hi").status for _ in range(30))
    assert set(outcomes) == {200, 500}


def test_knob_changes_are_validated(client: WebClient) -> None:
    assert client.control("knobs", {"fail_500": 2}).status_code == 400
    assert client.control("knobs", {"teapot": 1}).status_code == 400
    assert client.control("knobs", {"account": 99, "drop": 0.1}).status_code == 400
    view = client.http.get("/_emulator/knobs").json()
    assert view["global"]["fail_500"] == 0.0 and set(view["accounts"]) == {email(i) for i in range(3)}


def test_command_line_knobs_and_account_overrides() -> None:
    overrides = '{"1": {"fail_500": 1.0}, "user2@emulator.local": {"fail_429": 1.0}}'
    with emulator_process("--accounts", "4", "--retry-after", "5", "--account-knobs", overrides) as base:
        clients = [WebClient(base, i) for i in range(4)]
        for web in clients:
            assert web.signin().status_code == 200
        assert [web.complete("hi").status for web in clients] == [200, 500, 429, 200]
        assert clients[2].complete("hi").headers["retry-after"] == "5"
        for web in clients:
            web.close()


def test_signin_wall_answers_the_waf_page_past_the_limit() -> None:
    with emulator_process("--signin-wall", "2") as base:
        clients = [WebClient(base, i % 3) for i in range(3)]
        responses = [web.signin() for web in clients]
        assert [r.status_code for r in responses[:2]] == [200, 200]
        assert responses[2].headers["content-type"].startswith("text/html")
        assert "aliyun_waf" in responses[2].text
        time.sleep(2.05)
        assert clients[2].signin().status_code == 200
        assert clients[0].stats()["errors"] == {"signin_wall": 1}
        for web in clients:
            web.close()
