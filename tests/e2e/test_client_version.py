"""When the web app moves on: an upstream (the emulator process) that refuses the gateway's client `version`
as too old, through the openai and anthropic SDKs against gateway processes. The refusal is recognised in each
shape, the version the web app sends today is read from its page, shared through the store (SQLite, Redis) with
every instance and the request retried once; the account is never struck; when nothing newer can be found the
client (and `qwen-server doctor`) is told exactly what to set; an operator's override always wins."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway
from tests.services import redis_binary, start_redis, stop

REFUSAL = "你正在使用较早版本"
_versions = itertools.count(1)


def next_version() -> str:
    """A version newer than any the emulator required before (each test makes the web app move on)."""
    return f"0.3.{next(_versions)}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_emulator("--require-version", "0.2.66", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(upstream: Service) -> Iterator[Service]:
    service = start_gateway(accounts=emulator_accounts(upstream, 2))
    yield service
    service.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    url, process = start_redis()
    yield url
    stop(process)


def web_app(upstream: Service, **settings: Any) -> dict[str, Any]:
    """The emulated web app's version settings (changed when given) and its counters."""
    if settings:
        response = httpx.post(f"{upstream.url}/_emulator/client-version", json=settings, timeout=5)
    else:
        response = httpx.get(f"{upstream.url}/_emulator/client-version", timeout=5)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def ask_openai(gateway: Service, text: str, *, stream: bool = False) -> str:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=30)
    messages: list[Any] = [{"role": "user", "content": text}]
    if not stream:
        answer = client.chat.completions.create(model="qwen3-max", messages=messages)
        return str(answer.choices[0].message.content)
    chunks = client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def ask_anthropic(gateway: Service, text: str, *, stream: bool = False) -> str:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=30)
    messages: list[Any] = [{"role": "user", "content": text}]
    if not stream:
        message = client.messages.create(model="qwen3-max", max_tokens=256, messages=messages)
        return "".join(block.text for block in message.content if block.type == "text")
    with client.messages.stream(model="qwen3-max", max_tokens=256, messages=messages) as events:
        return "".join(events.text_stream)


def accounts_view(gateway: Service) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{gateway.url}/v1/metrics", timeout=10)
    response.raise_for_status()
    return {a["name"]: a for a in response.json()["accounts"]}


def assert_no_strike(gateway: Service) -> None:
    for name, view in accounts_view(gateway).items():
        assert view["state"] == "ok" and view["reason"] is None, (name, view)
        assert view["cooldown_until"] is None and view["disabled_until"] is None, (name, view)
        assert view["failures"] == 0, (name, view)


def doctor(accounts: list[dict[str, Any]], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "STORE_"))}
    full_env.update({"QWEN_ACCOUNTS": json.dumps(accounts), **env})
    return subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "doctor", "--json", "--skip", "upload", "--timeout", "10"],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_version_learned_by_one_instance_serves_every_instance(
    upstream: Service, store_url: str, tmp_path: Path
) -> None:
    required = next_version()
    before = web_app(upstream, required=required, shape="json", page=True, where=["completions"])
    env = {"STORE_URL": store_url}
    first = start_gateway(env, accounts=emulator_accounts(upstream, 2))
    second = start_gateway(env, accounts=emulator_accounts(upstream, 2))
    try:
        assert ask_openai(first, "hello there") == "hello there"
        after_first = web_app(upstream)
        assert after_first["refused"].get("0.2.0", 0) == before["refused"].get("0.2.0", 0) + 1, "refused once"
        assert after_first["passed"][required] >= 1, "retried once, with the version the page names"
        assert after_first["reads"]["page"] == before["reads"]["page"] + 1
        assert ask_anthropic(second, "from another instance", stream=True) == "from another instance"
        after_second = web_app(upstream)
        assert after_second["refused"] == after_first["refused"], "the other instance sent the learned version"
        assert after_second["reads"] == after_first["reads"], "and did not read the page again"
        assert_no_strike(first)
        assert_no_strike(second)
    finally:
        first.stop()
        second.stop()
    result = doctor(emulator_accounts(upstream, 1), env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    client_version = report["accounts"][0]["client_version"]
    assert client_version == {"sent": required, "source": "learned from the web app's page"}
    learned = next(iter(report["protocol"]["learned_versions"].values()))
    assert learned["version"] == required and learned["refused"] == "0.2.0"


@pytest.mark.parametrize(
    ("shape", "language", "sdk", "stream", "where"),
    [
        ("json", "zh", "openai", False, ["completions"]),
        ("sse", "zh", "openai", True, ["completions"]),
        ("answer", "zh", "anthropic", True, ["completions"]),
        ("answer", "en", "openai", False, ["completions"]),
        ("json", "en", "anthropic", False, ["completions", "new_chat"]),
    ],
)
def test_each_shape_of_the_refusal_is_recognised_and_the_request_retried(
    upstream: Service, gateway: Service, shape: str, language: str, sdk: str, stream: bool, where: list[str]
) -> None:
    required = next_version()
    before = web_app(upstream, required=required, shape=shape, language=language, page=True, where=where)
    ask = ask_openai if sdk == "openai" else ask_anthropic
    text = f"still answering in the {shape} case"
    assert ask(gateway, text, stream=stream) == text, "the refusal is never served as the answer"
    after = web_app(upstream)
    refused_now = sum(after["refused"].values()) - sum(before["refused"].values())
    assert refused_now == 1 and after["passed"][required] >= 1
    assert_no_strike(gateway)


def test_without_a_newer_version_on_the_page_the_client_is_told_what_to_set(
    upstream: Service, gateway: Service
) -> None:
    ask_openai(gateway, "settle on the current version first")
    in_force = web_app(upstream)["web_version"]
    required = next_version()
    web_app(upstream, required=required, shape="sse", language="zh", page=False, where=["completions"])
    with pytest.raises(openai.APIStatusError) as refused:
        ask_openai(gateway, "are you there?", stream=True)
    assert refused.value.status_code == 502
    assert refused.value.response.headers.get("x-should-retry") == "false"
    body = refused.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_client_outdated"
    message = str(body["message"])
    assert "client version too old" in message and REFUSAL in message
    assert "could not be read" in message and "QWEN_PROTOCOL_OVERRIDES" in message
    assert f"version in force: {in_force}, learned from the web app's page" in message
    with pytest.raises(anthropic.APIStatusError) as refused_too:
        ask_anthropic(gateway, "and you?")
    assert "client version too old" in str(refused_too.value.body)
    assert_no_strike(gateway)
    override = {"QWEN_PROTOCOL_OVERRIDES": json.dumps({"headers": {"version": required}})}
    fixed = start_gateway(override, accounts=emulator_accounts(upstream, 2))
    try:
        assert ask_openai(fixed, "the override restores service") == "the override restores service"
    finally:
        fixed.stop()


def test_an_operators_override_wins_and_the_doctor_gives_the_override_to_paste(
    upstream: Service, tmp_path: Path
) -> None:
    required = next_version()
    before = web_app(upstream, required=required, shape="answer", page=True, where=["completions"])
    pinned = {"QWEN_PROTOCOL_OVERRIDES": json.dumps({"headers": {"version": "0.2.1"}})}
    gateway = start_gateway(pinned, accounts=emulator_accounts(upstream, 1))
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            ask_openai(gateway, "pinned")
        body = refused.value.body
        message = str(body["message"]) if isinstance(body, dict) else ""
        assert f"the web app sends {required} today, but QWEN_PROTOCOL_OVERRIDES pins 0.2.1" in message
        paste = "QWEN_PROTOCOL_OVERRIDES='" + json.dumps({"headers": {"version": required}}) + "'"
        assert paste in message
        after = web_app(upstream)
        assert after["refused"].get("0.2.1", 0) == before["refused"].get("0.2.1", 0) + 1, "not retried"
        assert after["passed"].get(required, 0) == before["passed"].get(required, 0)
    finally:
        gateway.stop()
    result = doctor(emulator_accounts(upstream, 1), {"STORE_URL": "memory://"}, tmp_path)
    assert result.returncode == 1
    steps = {s["step"]: s for s in json.loads(result.stdout)["steps"]}
    completion = steps["completion"]
    assert completion["state"] == "failed" and REFUSAL in completion["outcome"]
    assert completion["hint"].startswith("client version too old: the web app sends " + required)
    assert paste in completion["hint"] and "version in force: 0.2.0, from protocol.json" in completion["hint"]
