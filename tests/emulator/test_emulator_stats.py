"""Counters under concurrency: in flight, maximum in flight, completions per account."""

from __future__ import annotations

import asyncio

import httpx

from tests.emulator.emulator_harness import VERSION, WebClient, completion_body, email


async def _new_chat(http: httpx.AsyncClient, token: str) -> str:
    headers = {"cookie": f"token={token}"}
    return str((await http.post("/api/v2/chats/new", json={}, headers=headers)).json()["data"]["id"])


async def _stream(http: httpx.AsyncClient, token: str, chat: str, content: str) -> str:
    headers = {"cookie": f"token={token}"}
    body = completion_body(chat, content)
    response = await http.post(
        "/api/v2/chat/completions", params={"chat_id": chat}, json=body, headers={**headers, **VERSION}
    )
    return response.text


async def test_max_in_flight_counts_concurrent_streams(emu: str) -> None:
    tokens = []
    for i in range(2):
        web = WebClient(emu, i)
        web.signin()
        assert web.token is not None
        tokens.append(web.token)
        web.close()
    # every stream stays open for seconds, far longer than it takes a loaded machine to start the twelve
    # (their chats exist beforehand, so each start is one request)
    slow = '[[emulator:{"reply": "x y z", "silence": 3}]]'
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=emu, limits=limits, verify=False, timeout=60) as http:
        chats = [await _new_chat(http, tokens[i % 2]) for i in range(12)]
        texts = await asyncio.gather(*(_stream(http, tokens[i % 2], chats[i], slow) for i in range(12)))
        stats = (await http.get("/_emulator/stats")).json()
    assert all('"finished"' in text for text in texts)
    assert stats["max_in_flight"] == 12 and stats["in_flight"] == 0
    assert stats["completions"] == stats["completed"] == 12
    for i in range(2):
        account = stats["accounts"][email(i)]
        assert account["max_in_flight"] == 6 and account["completions"] == 6 and account["signins"] == 1


async def test_reset_zeroes_counters(emu: str) -> None:
    web = WebClient(emu, 0)
    web.signin()
    web.complete("hi")
    assert web.stats()["completions"] == 1
    web.control("reset")
    stats = web.stats()
    assert stats["completions"] == 0 and stats["signins"] == 0 and stats["max_in_flight"] == 0
    web.close()


async def test_a_finished_response_stops_counting_before_its_last_byte() -> None:
    """A client that reads the end and at once starts its next request must find the count already down."""
    from qwen_server.emulator.responses import TimedResponse
    from qwen_server.emulator.timeline import Step

    closed: list[str] = []
    seen_at_end: list[list[str]] = []

    async def receive() -> dict[str, object]:
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            seen_at_end.append(list(closed))

    response = TimedResponse(
        200, [], [Step(0, b"data: a\n\n"), Step(0.01, b"data: b\n\n")], lambda: closed.append("x")
    )
    await response({"type": "http"}, receive, send)
    assert seen_at_end == [["x"]]
    assert closed == ["x"]  # and only once, though the response's own cleanup also runs
