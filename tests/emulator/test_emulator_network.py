"""The emulated network: every API call is logged in order (with its route and chat id), and a round-trip
time can be set at start-up or live; control calls are neither logged nor delayed."""

from __future__ import annotations

import time

from tests.emulator.emulator_harness import WebClient, emulator_process


def test_every_api_call_is_logged_in_order_with_its_route(client: WebClient) -> None:
    client.control("reset")
    chat = client.new_chat()
    assert client.complete("hello", chat_id=chat).answer()
    delete = client.http.delete(f"/api/v2/chats/{chat}", headers=client.auth)
    assert delete.status_code == 200
    log = client.http.get("/_emulator/requests").json()
    routes = [entry["route"] for entry in log["requests"]]
    assert routes == ["POST /api/v2/chats/new", "POST /api/v2/chat/completions", "DELETE /api/v2/chats/{id}"]
    assert log["requests"][1]["chat_id"] == chat and log["requests"][0]["chat_id"] is None
    assert [entry["seq"] for entry in log["requests"]] == sorted(entry["seq"] for entry in log["requests"])
    assert log["counts"] == {route: 1 for route in routes}
    client.control("reset")
    assert client.http.get("/_emulator/requests").json() == {"requests": [], "counts": {}}


def test_the_round_trip_time_delays_api_calls_only_and_changes_live() -> None:
    with emulator_process("--accounts", "1", "--rtt", "1") as base:
        web = WebClient(base, 0)
        try:
            assert web.http.get("/_emulator/rtt").json() == {"seconds": 1.0}
            started = time.monotonic()
            web.signin()
            assert time.monotonic() - started >= 1.0  # a lower bound: the round trip is slept, whatever the load
            assert web.control("rtt", {"seconds": 0}).json() == {"seconds": 0}
            assert web.control("rtt", {"seconds": "far"}).status_code == 400
            assert web.control("rtt", {"seconds": 61}).status_code == 400
            web.control("reset", {"all": True})
            assert web.http.get("/_emulator/rtt").json() == {"seconds": 1.0}  # back to the start-up value
            assert web.http.get("/_emulator/requests").json()["counts"] == {}
        finally:
            web.close()
