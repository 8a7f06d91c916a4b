"""Every configured model is served: the README's mixed accounts, and upstreams whose model listing is
broken or hangs, with the openai SDK against `qwen-server serve`, the emulator and a fake upstream."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.processes import (
    emulator_accounts,
    emulator_stats,
    start_emulator,
    start_fake_openai,
    start_gateway,
)


def test_the_readme_mix_serves_the_web_models_and_the_explicit_one() -> None:
    emulator = start_emulator(accounts=2)
    fake = start_fake_openai("--models", "something-else")
    accounts = [
        *emulator_accounts(emulator, 2),
        {
            "kind": "openai",
            "base_url": f"{fake.url}/v1",
            "api_key": "k",
            "models": ["qwen3-32b"],
            "name": "vllm",
        },
    ]
    gateway = start_gateway(accounts=accounts)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        served = {m.id for m in client.models.list()}
        assert {"qwen3-max", "qwen3-32b"} <= served, served
        assert "something-else" not in served, "an account with explicit models is taken at its word"
        for i in range(8):
            web = client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": f"web {i}"}]
            )
            assert web.choices[0].message.content == f"web {i}"
            local = client.chat.completions.create(
                model="qwen3-32b", messages=[{"role": "user", "content": f"local {i}"}]
            )
            assert (local.choices[0].message.content or "").startswith("w0 w1 ")
        streamed = client.chat.completions.create(
            model="qwen3-32b", messages=[{"role": "user", "content": "s"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).startswith("w0 ")
        assert httpx.get(f"{fake.url}/_fake/stats", timeout=30).json()["/v1/chat/completions"] == 9
        assert emulator_stats(emulator)["errors"] == {}, "qwen3-32b never went to the web accounts"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    finally:
        gateway.stop()
        fake.stop()
        emulator.stop()


def _chat(base_url: str, text: str) -> str:
    # 20 s: far beyond the one listing timeout (5 s) requests may share, far below a stall
    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=20)
    reply = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


@pytest.mark.parametrize("mode", ["malformed", "hang"])
def test_a_broken_model_listing_neither_fails_nor_stalls_requests(mode: str) -> None:
    fake = start_fake_openai("--models-mode", mode)
    gateway = start_gateway(
        accounts=[{"kind": "openai", "base_url": f"{fake.url}/v1", "api_key": "k", "max_concurrent": 8}]
    )
    base = f"{gateway.url}/v1"
    try:
        with ThreadPoolExecutor(8) as workers:
            first = list(workers.map(lambda i: _chat(base, f"q{i}"), range(8)))
        assert all(text.startswith("w0 ") for text in first)
        listed = httpx.get(f"{base}/models", timeout=30)
        assert listed.status_code == 200 and "qwen3-max" in {m["id"] for m in listed.json()["data"]}
        assert all(_chat(base, "later").startswith("w0 ") for _ in range(4))
        stats = httpx.get(f"{fake.url}/_fake/stats", timeout=30).json()
        # one listing, shared by the eight: the failure is remembered, not retried per request
        assert stats["/v1/models"] == 1, "one listing in flight, none repeated within 30 s"
        assert "Traceback" not in gateway.log()
    finally:
        gateway.stop()
        fake.stop()
