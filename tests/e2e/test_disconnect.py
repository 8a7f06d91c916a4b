"""A client that goes away mid-stream frees its scheduler slot, its account slot and the upstream stream."""

from __future__ import annotations

import time

import httpx

from tests.processes import emulator_accounts, emulator_stats, start_emulator, start_gateway


def test_disconnect_mid_stream_releases_everything() -> None:
    emulator = start_emulator("--token-latency", "0.05", accounts=1)
    gateway = start_gateway(
        {"SCHED_CHAT_CONCURRENT": "1"}, accounts=emulator_accounts(emulator, 1, max_concurrent=1)
    )
    try:
        long_reply = " ".join(f"w{i}" for i in range(400))
        body = {
            "model": "qwen3-max",
            "stream": True,
            "messages": [{"role": "user", "content": f'[[emulator:{{"reply": "{long_reply}"}}]]'}],
        }
        with httpx.Client(timeout=30) as client:
            with client.stream("POST", f"{gateway.url}/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                seen = [next(lines) for _ in range(6)]
                assert any('"content"' in line for line in seen)
                assert emulator_stats(emulator)["in_flight"] == 1
            # the client is gone; the gateway must notice and let go of the upstream stream and both slots
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and emulator_stats(emulator)["in_flight"]:
            time.sleep(0.1)
        assert emulator_stats(emulator)["in_flight"] == 0
        # with one scheduler slot and one account slot, a new request only succeeds if both were released
        reply = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "qwen3-max", "messages": [{"role": "user", "content": "next"}]},
            timeout=15,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "next"
        metrics = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()
        assert metrics["scheduler"]["chat"]["in_flight"] == 0
        assert metrics["accounts"][0]["in_flight"] == 0
    finally:
        gateway.stop()
        emulator.stop()
