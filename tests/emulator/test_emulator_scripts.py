"""Scripted replies: the `[[emulator:...]]` directive and the control queue, including every error."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.emulator.emulator_harness import VERSION, WebClient, completion_body, email


def _directive(**script: object) -> str:
    return f"please [[emulator:{orjson.dumps(script).decode()}]]"


def test_scripted_reply_chunks_and_thinking(client: WebClient) -> None:
    assert client.complete(_directive(reply="Scripted answer.")).answer() == "Scripted answer."
    chunked = client.complete(_directive(chunks=["Hel", "lo ", "{x}"]))
    assert [d["content"] for d in chunked.deltas("answer")] == ["Hel", "lo ", "{x}", ""]
    script = _directive(reply="ok", thinking="Let me think.")
    assert client.complete(script, thinking=True).think() == "Let me think."
    assert client.complete(script).deltas("think") == []


def test_the_last_directive_wins_and_usage_can_be_omitted(client: WebClient) -> None:
    old, new = _directive(reply="old"), _directive(reply="new", usage=False)
    content = f"[user]\n{old}\n\n[assistant]\nold\n\n[user]\n{new}"
    reply = client.complete(content)
    assert reply.answer() == "new"
    assert all("usage" not in e for e in reply.events)
    assert client.complete("broken [[emulator:{nope}]] tail").answer() == "broken [[emulator:{nope}]] tail"


def test_silence_delays_the_first_answer_piece(client: WebClient) -> None:
    start = time.monotonic()
    with client.http.stream(
        "POST",
        "/api/v2/chat/completions",
        params={"chat_id": (chat := client.new_chat())},
        json=completion_body(chat, _directive(reply="late words", silence=2)),
        headers={**client.auth, **VERSION},
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith('data: {"response.created"')
        created_at = time.monotonic() - start
        first_piece = next(line for line in lines if '"typing"' in line)
        piece_at = time.monotonic() - start
    assert created_at < 2 <= piece_at  # "created" at once, the first piece only after the silence
    assert '"content":"late"' in first_piece


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [("500", 500, "InternalError"), ("429", 429, "RateLimited"), ("bad_request", 200, "Bad_Request")],
)
def test_scripted_http_errors(client: WebClient, error: str, status: int, code: str) -> None:
    reply = client.complete(_directive(error=error))
    assert reply.status == status
    body = orjson.loads(reply.text)
    assert body["success"] is False and body["data"]["code"] == code
    if error == "429":
        assert reply.headers["retry-after"] == "30"
    assert client.stats()["accounts"][email(0)]["errors"] == {error: 1}


def test_scripted_401_revokes_the_token(client: WebClient) -> None:
    chat = client.new_chat()
    reply = client.complete(_directive(error="401"))
    assert reply.status == 401 and orjson.loads(reply.text)["detail"]
    assert client.complete("hi", chat_id=chat).status == 401
    client.signin()
    assert client.complete("hi").answer() == "hi"


def test_scripted_rate_limited_is_an_sse_line_with_http_200(client: WebClient) -> None:
    reply = client.complete(_directive(error="rate_limited"))
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/event-stream")
    [event] = reply.events
    assert event["success"] is False and event["data"]["code"] == "RateLimited"


def test_scripted_waf_answers_the_challenge_page(client: WebClient) -> None:
    reply = client.complete(_directive(error="waf"))
    assert reply.headers["content-type"].startswith("text/html")
    assert "aliyun_waf" in reply.text


def test_scripted_in_stream_error_comes_after_some_answer_text(client: WebClient) -> None:
    reply = client.complete(_directive(reply="one two three four five six", error="in_stream"))
    assert reply.status == 200
    assert reply.answer() == "one two three"
    assert "error" in reply.events[-1] and reply.events[-1]["error"]["code"]
    assert all(d["status"] == "typing" for d in reply.deltas())


def test_scripted_drop_closes_the_connection_mid_stream(client: WebClient) -> None:
    chat = client.new_chat()
    body = completion_body(chat, _directive(reply="one two three four five", error="drop"))
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # the error surfaces while reading
        with client.http.stream(
            "POST",
            "/api/v2/chat/completions",
            params={"chat_id": chat},
            json=body,
            headers={**client.auth, **VERSION},
        ) as response:
            received.extend(response.iter_lines())
    assert any('"content":"one"' in line for line in received)
    assert not any('"finished"' in line for line in received)
    assert client.stats()["in_flight"] == 0


def test_scripted_hang_never_answers_and_stops_counting_when_abandoned(client: WebClient) -> None:
    client.http.timeout = httpx.Timeout(0.4)
    with pytest.raises(httpx.ReadTimeout):
        client.complete(_directive(error="hang"))
    deadline = time.monotonic() + 15
    while client.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = client.stats()
    assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1 and stats["errors"] == {"hang": 1}


def test_scripted_errors_in_non_streaming_mode(client: WebClient) -> None:
    assert orjson.loads(client.complete(_directive(error="in_stream"), stream=False).text)["success"] is False
    limited = orjson.loads(client.complete(_directive(error="rate_limited"), stream=False).text)
    assert limited["data"]["code"] == "RateLimited"
    with pytest.raises(httpx.RemoteProtocolError):
        client.complete(_directive(error="drop"), stream=False)


def test_queued_scripts_are_served_first_in_first_out(client: WebClient, emu: str) -> None:
    queued = client.control(
        "script", {"account": None, "replies": [{"reply": "shared 1"}, {"reply": "shared 2"}]}
    )
    assert queued.json()["queued"] == 2
    client.control("script", {"account": email(0), "replies": [{"reply": "mine"}, {"error": "500"}]})
    other = WebClient(emu, 1)
    other.signin()
    assert other.complete("x").answer() == "shared 1"
    assert client.complete("x").answer() == "mine"
    assert client.complete("x").status == 500
    assert client.complete("x").answer() == "shared 2"
    assert client.complete("x").answer() == "x"
    assert client.stats()["scripts_pending"] == 0
    other.close()


def test_script_validation_rejects_nonsense(client: WebClient) -> None:
    assert client.control("script", {"replies": [{"error": "teapot"}]}).status_code == 400
    assert client.control("script", {"replies": [{"reply": 3}]}).status_code == 400
    assert client.control("script", {"account": "ghost@x", "replies": []}).status_code == 400
    assert client.stats()["scripts_pending"] == 0
