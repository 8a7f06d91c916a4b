"""Upstream kinds and their life cycle: token expiry, the `openai` kind, and the no-credentials demo."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai

from tests.processes import (
    REPO,
    Service,
    emulator_accounts,
    emulator_stats,
    free_port,
    start_emulator,
    start_gateway,
    wait_http,
)


def test_expired_token_is_renewed_transparently() -> None:
    emulator = start_emulator(accounts=1)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 1))
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        assert (
            client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": "before"}]
            )
            .choices[0]
            .message.content
            == "before"
        )
        assert emulator_stats(emulator)["accounts"]["user0@emulator.local"]["signins"] == 1
        httpx.post(
            f"{emulator.url}/_emulator/expire-tokens", json={"account": None}, timeout=5
        ).raise_for_status()
        for i in range(3):
            reply = client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": f"after {i}"}]
            )
            assert reply.choices[0].message.content == f"after {i}"
        assert emulator_stats(emulator)["accounts"]["user0@emulator.local"]["signins"] == 2, (
            "exactly one re-login"
        )
    finally:
        gateway.stop()
        emulator.stop()


def test_a_token_instead_of_a_password(emulator: Service) -> None:
    signin = httpx.post(
        f"{emulator.url}/api/v1/auths/signin",
        json={
            "email": "user2@emulator.local",
            "password": __import__("hashlib").sha256(b"password2").hexdigest(),
        },
        timeout=5,
    )
    token = signin.json()["token"]
    gateway = start_gateway(accounts=[{"token": token, "base_url": emulator.url, "name": "by-token"}])
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "token only"}]
        )
        assert reply.choices[0].message.content == "token only"
        assert token not in gateway.log()
    finally:
        gateway.stop()


def test_openai_kind_in_front_of_another_openai_compatible_server(gateway: Service) -> None:
    """A second gateway whose only account is the first gateway, spoken to as a plain OpenAI server."""
    outer = start_gateway(
        accounts=[{"kind": "openai", "base_url": f"{gateway.url}/v1", "api_key": "inner-key"}]
    )
    try:
        client = openai.OpenAI(base_url=f"{outer.url}/v1", api_key="k", max_retries=0)
        assert "qwen3-max" in {m.id for m in client.models.list()}
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "two hops"}]
        )
        assert reply.choices[0].message.content == "two hops"
        chunks = list(
            client.chat.completions.create(
                model="qwen3-max",
                messages=[{"role": "user", "content": "streamed two hops"}],
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"enable_thinking": True},
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed two hops"
        assert any(getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks if c.choices)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        assert "inner-key" not in outer.log()
    finally:
        outer.stop()


def test_serve_emulate_needs_no_credentials(tmp_path: os.PathLike[str]) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "STORE_"))}
    log = open(os.path.join(tmp_path, "serve.log"), "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_server.cli", "serve", "--emulate", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "demo"}]
        )
        assert reply.choices[0].message.content == "demo"
        output = open(os.path.join(tmp_path, "serve.log"), encoding="utf-8").read()
        assert "EMULATED UPSTREAM" in output
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert REPO.exists()
