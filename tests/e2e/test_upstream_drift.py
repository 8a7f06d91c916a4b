"""Living with an upstream that changes, through the openai SDK against the gateway and emulator processes:
a protocol override keeps chat working, bot protection is a cooldown with a clear error, and browser
sessions (a Cookie string, a cURL command) are accounts whose upstream cookies are kept in the store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway
from tests.services import redis_binary, start_redis, stop

DRIFT = json.dumps(
    {
        "paths": {"completions": "/api/v3/chat/completions", "new_chat": "/api/v3/chats/create"},
        "headers": {"version": "0.3.0"},
        "completion": {"version": "2.2"},
    }
)


def ask(gateway: Service, text: str = "hello there") -> str:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=30)
    answer = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": text}])
    return str(answer.choices[0].message.content)


def accounts_view(gateway: Service) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{gateway.url}/v1/metrics", timeout=30)
    response.raise_for_status()
    return {a["name"]: a for a in response.json()["accounts"]}


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def waf_state(emulator: Service, mode: str | None = None) -> dict[str, Any]:
    if mode is None:
        response = httpx.get(f"{emulator.url}/_emulator/waf", timeout=30)
    else:
        response = httpx.post(f"{emulator.url}/_emulator/waf", json={"mode": mode}, timeout=30)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def sign_in(emulator: Service, index: int, cookies: dict[str, str] | None = None) -> str:
    password = hashlib.sha256(f"password{index}".encode()).hexdigest()
    response = httpx.post(
        f"{emulator.url}/api/v2/auths/signin",
        json={"email": f"user{index}@emulator.local", "password": password},
        cookies=cookies,
        timeout=5,
    )
    response.raise_for_status()
    return str(response.cookies["token"])


def solve_challenge(emulator: Service) -> str:
    """What the challenge page's script computes (a browser runs it; this test reads the page)."""
    page = httpx.get(f"{emulator.url}/api/models", timeout=30).text
    arg1 = re.search(r"var arg1 = '([0-9a-f]+)'", page)
    key = re.search(r"var key = '([0-9a-f]+)'", page)
    assert arg1 and key, page
    a, k = arg1.group(1), key.group(1)
    return "".join(f"{int(a[i : i + 2], 16) ^ int(k[i : i + 2], 16):02x}" for i in range(0, len(a), 2))


def run_doctor(accounts: list[dict[str, Any]], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "STORE_"))}
    full_env.update({"QWEN_ACCOUNTS": json.dumps(accounts), **env})
    return subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "doctor", "--json", "--skip", "upload"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---- protocol overrides --------------------------------------------------------------------------------
def test_an_override_matching_the_upstream_keeps_chat_working() -> None:
    emulator = start_emulator("--protocol-overrides", DRIFT, accounts=1)
    stale = start_gateway(accounts=emulator_accounts(emulator, 1))
    updated = start_gateway({"QWEN_PROTOCOL_OVERRIDES": DRIFT}, accounts=emulator_accounts(emulator, 1))
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            ask(stale)
        assert refused.value.status_code in (404, 502)
        assert ask(updated, "still here?") == "still here?"
        client = openai.OpenAI(base_url=f"{updated.url}/v1", api_key="k", max_retries=0)
        chunks = client.chat.completions.create(
            model="qwen3-max", stream=True, messages=[{"role": "user", "content": "streamed too"}]
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed too"
    finally:
        for service in (updated, stale, emulator):
            service.stop()


def test_serve_refuses_unusable_overrides(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="QWEN_PROTOCOL_OVERRIDES"):
        start_gateway({"QWEN_PROTOCOL_OVERRIDES": "{broken"}, accounts=[{"token": "t", "base_url": "http://x"}])


# ---- bot protection ------------------------------------------------------------------------------------
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


@pytest.mark.parametrize("mode", ["captcha", "page"])
def test_bot_protection_is_a_cooldown_and_a_clear_error(store_url: str, mode: str) -> None:
    emulator = start_emulator("--waf", mode, accounts=2)
    gateway = start_gateway({"STORE_URL": store_url}, accounts=emulator_accounts(emulator, 2))
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            ask(gateway)
        message = str(refused.value.body)
        assert refused.value.status_code == 502
        assert "bot protection refused the request" in message and "qwen-server doctor" in message
        assert "password" not in message
        view = accounts_view(gateway)
        for name in ("emu0", "emu1"):
            assert view[name]["state"] == "cooldown", view[name]
            assert "WAF challenge" in view[name]["reason"], view[name]
            assert ("captcha" if mode == "captcha" else "WAF page") in view[name]["reason"]
            assert view[name]["disabled_until"] is None
        diagnosed = run_doctor(emulator_accounts(emulator, 2), {"STORE_URL": store_url})
        assert diagnosed.returncode == 1
        pool = {a["name"]: a["pool"] for a in json.loads(diagnosed.stdout)["accounts"]}
        assert pool["emu0"]["state"] == "cooldown" and "WAF challenge" in pool["emu0"]["reason"], pool
        waf_state(emulator, "off")
        eventually(lambda: all(a["state"] == "ok" for a in accounts_view(gateway).values()), timeout=15)
        assert ask(gateway, "back again") == "back again", "no strike was held against the accounts"
    finally:
        gateway.stop()
        emulator.stop()


# ---- browser sessions ----------------------------------------------------------------------------------
def test_a_cookie_string_account_works_end_to_end() -> None:
    emulator = start_emulator(accounts=2)
    try:
        token = sign_in(emulator, 1)
        gateway = start_gateway(
            accounts=[{"name": "browser", "base_url": emulator.url, "cookie": f"token={token}; x-ap=ap-southeast-1"}]
        )
        try:
            assert ask(gateway, "from a cookie") == "from a cookie"
            stats = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()
            assert "sign" not in json.dumps(stats.get("errors", {})), "no sign-in was needed"
        finally:
            gateway.stop()
    finally:
        emulator.stop()


def test_a_curl_session_passes_the_cookie_wall_and_keeps_the_upstreams_cookies(tmp_path: Path) -> None:
    emulator = start_emulator("--waf", "cookie", accounts=1)
    store = f"sqlite:///{tmp_path / 'state.db'}"
    try:
        solved = solve_challenge(emulator)
        token = sign_in(emulator, 0, cookies={"acw_sc__v2": solved})
        curl = (
            f"curl '{emulator.url}/api/v2/chats/new' \\\n"
            "  -H 'accept: application/json' \\\n"
            "  -H 'bx-v: 2.5.36' \\\n"
            "  -H 'bx-ua: 231!captured-fingerprint' \\\n"
            f"  -b 'token={token}; acw_sc__v2={solved}' \\\n"
            "  -H 'user-agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36' \\\n"
            "  --data-raw '{\"title\":\"New Chat\"}'"
        )
        plain = start_gateway({"STORE_URL": store}, accounts=emulator_accounts(emulator, 1))
        try:
            with pytest.raises(openai.APIStatusError) as refused:
                ask(plain)
            assert "bot protection" in str(refused.value.body)
        finally:
            plain.stop()
        gateway = start_gateway({"STORE_URL": store}, accounts=[{"name": "browser", "curl": curl}])
        try:
            assert ask(gateway, "through the wall") == "through the wall"
            assert ask(gateway, "and again") == "and again"
            state = waf_state(emulator)
            assert state["passed"] >= 4 and state["acw_tc_returned"] >= 1, state
        finally:
            gateway.stop()
        jar = asyncio.run(_stored_jar(store, {"name": "browser", "curl": curl}))
        assert jar.get("acw_tc"), "the cookie the upstream set is kept in the store"
    finally:
        emulator.stop()


async def _stored_jar(store_url: str, entry: dict[str, Any]) -> dict[str, str]:
    from qwen_server.pool.registry import parse_entry
    from qwen_server.providers.qwen_web.jar import jar_key
    from qwen_server.store import open_store

    store = open_store(store_url)
    try:
        raw = await store.get(jar_key(parse_entry(entry, 0)))
        return dict(json.loads(raw)) if raw else {}
    finally:
        await store.close()
