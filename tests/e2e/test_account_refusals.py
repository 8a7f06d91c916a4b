"""No request can disable the pool: per-model refusals stay per model, only a refused credential check
disables an account, a disable lapses, and an admin can lift it. On SQLite and Redis, as processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_fake_openai, start_gateway
from tests.services import redis_binary, start_redis, stop

UNPURCHASED = "qwen-max-unpurchased"


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


def accounts_view(gateway: Service, headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{gateway.url}/v1/metrics", headers=headers or {}, timeout=30)
    response.raise_for_status()
    return {a["name"]: a for a in response.json()["accounts"]}


def fake_stats(fake: Service) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{fake.url}/_fake/stats", timeout=30).json()
    return stats


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def chat(client: openai.OpenAI, model: str, text: str = "hi") -> str:
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def test_a_model_the_key_is_not_entitled_to_never_disables_the_account(store_url: str) -> None:
    fake = start_fake_openai(
        "--api-key", "sk-good", "--models", "qwen3-max", UNPURCHASED, "--unpurchased", UNPURCHASED
    )
    gateway = start_gateway(
        {"STORE_URL": store_url},
        accounts=[{"kind": "dashscope", "base_url": f"{fake.url}/v1", "api_key": "sk-good", "name": "ds"}],
    )
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        for i in range(20):
            with pytest.raises(openai.PermissionDeniedError) as refused:
                chat(client, UNPURCHASED)
            assert refused.value.code == "upstream_forbidden"
            assert "AccessDenied.Unpurchased" in refused.value.message
            if i % 5 == 0:
                assert chat(client, "qwen3-max").startswith("w0 "), "other models keep working"
        assert chat(client, "qwen3-max").startswith("w0 ")
        assert fake_stats(fake)[f"403 {UNPURCHASED}"] == 20
        eventually(lambda: fake_stats(fake).get("/v1/models", 0) >= 2)  # the listing and one check
        time.sleep(0.5)
        assert fake_stats(fake)["/v1/models"] == 2, "one credential check for 20 refusals"
        ds = accounts_view(gateway)["ds"]
        assert (ds["state"], ds["disabled_until"]) == ("ok", None), ds
        assert ds["models"][UNPURCHASED]["failures"] == 20
        assert ds["models"]["qwen3-max"]["failures"] == 0
        # without ADMIN_API_KEYS the admin routes are closed, and say how to open them
        closed = httpx.get(f"{gateway.url}/admin/accounts", timeout=30)
        assert closed.status_code == 403 and "ADMIN_API_KEYS" in closed.json()["error"]["message"]
    finally:
        gateway.stop()
        fake.stop()


def test_a_refused_key_is_disabled_by_the_rule_and_an_admin_enables_it(store_url: str) -> None:
    fake = start_fake_openai("--api-key", "sk-good")
    base = f"{fake.url}/v1"
    gateway = start_gateway(
        {"STORE_URL": store_url, "GATEWAY_API_KEYS": "client-key", "ADMIN_API_KEYS": "admin-key"},
        accounts=[
            {"kind": "openai", "base_url": base, "api_key": "sk-revoked", "name": "revoked"},
            {"kind": "openai", "base_url": base, "api_key": "sk-good", "name": "good"},
        ],
    )
    client_auth = {"authorization": "Bearer client-key"}
    admin = {"authorization": "Bearer admin-key"}  # ADMIN_API_KEYS guard /v1/metrics too
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)

        def disabled() -> bool:
            assert chat(client, "qwen3-max").startswith("w0 "), "failover hides the bad key from clients"
            return bool(accounts_view(gateway, admin)["revoked"]["state"] == "disabled")

        eventually(disabled, timeout=60)
        view = accounts_view(gateway, admin)
        revoked = view["revoked"]
        assert "refused" in revoked["reason"] and "401" in revoked["reason"], revoked
        assert revoked["disabled_until"] > time.time() + 3000, "disabled for ACCOUNT_DISABLE_SECONDS (1 h)"
        assert view["good"]["state"] == "ok"
        refused_before = fake_stats(fake).get("401 /v1/chat/completions", 0)
        for _ in range(5):
            assert chat(client, "qwen3-max").startswith("w0 ")
        assert fake_stats(fake).get("401 /v1/chat/completions", 0) == refused_before, "no traffic to it"

        enable = f"{gateway.url}/admin/accounts/{revoked['id']}/enable"
        assert httpx.post(enable, timeout=30).status_code == 401
        as_client = httpx.post(enable, headers=client_auth, timeout=30)
        assert as_client.status_code == 403 and as_client.json()["error"]["type"] == "permission_error"
        assert accounts_view(gateway, admin)["revoked"]["state"] == "disabled"
        listed = httpx.get(f"{gateway.url}/admin/accounts", headers=admin, timeout=30)
        assert listed.status_code == 200
        assert {a["name"]: a["state"] for a in listed.json()["data"]} == {"revoked": "disabled", "good": "ok"}
        missing = httpx.post(f"{gateway.url}/admin/accounts/nobody/enable", headers=admin, timeout=30)
        assert missing.status_code == 404
        enabled = httpx.post(enable, headers=admin, timeout=30)
        assert enabled.status_code == 200, enabled.text
        assert (enabled.json()["state"], enabled.json()["disabled_until"]) == ("ok", None)
        assert accounts_view(gateway, admin)["revoked"]["state"] == "ok"
    finally:
        gateway.stop()
        fake.stop()


def test_a_disable_lapses_and_the_account_comes_back_once_its_key_works(tmp_path: Path) -> None:
    fake = start_fake_openai("--api-key", "sk-good")
    base = f"{fake.url}/v1"
    gateway = start_gateway(
        {"STORE_URL": f"sqlite:///{tmp_path / 'state.db'}", "ACCOUNT_DISABLE_SECONDS": "8"},
        accounts=[
            {"kind": "openai", "base_url": base, "api_key": "sk-rotated", "name": "rotated"},
            {"kind": "openai", "base_url": base, "api_key": "sk-good", "name": "good"},
        ],
    )
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)

        def state() -> str:
            return str(accounts_view(gateway)["rotated"]["state"])

        def disabled() -> bool:
            chat(client, "qwen3-max")
            return state() == "disabled"

        # 8 s: long enough for a poll on a busy machine to see the account disabled before the disable lapses
        eventually(disabled, timeout=60)
        until = accounts_view(gateway)["rotated"]["disabled_until"]
        assert until is not None and until <= time.time() + 8.5, "ACCOUNT_DISABLE_SECONDS=8, not 1 h"
        eventually(lambda: state() == "suspect", timeout=60)
        assert accounts_view(gateway)["rotated"]["disabled_until"] is None
        # the owner fixes the key upstream: the next probe brings the account back for good
        httpx.post(f"{fake.url}/_fake/keys", json={"add": ["sk-rotated"]}, timeout=30).raise_for_status()

        def back() -> bool:
            chat(client, "qwen3-max")
            return state() == "ok"

        eventually(back, timeout=60)
        assert accounts_view(gateway)["rotated"]["successes"] >= 1
    finally:
        gateway.stop()
        fake.stop()


def test_a_web_token_refused_by_the_auth_endpoint_disables_only_that_account(store_url: str) -> None:
    emulator = start_emulator(accounts=1)
    accounts = [
        *emulator_accounts(emulator, 1),
        {"token": "not-a-token-the-emulator-issued", "base_url": emulator.url, "name": "stale"},
    ]
    gateway = start_gateway({"STORE_URL": store_url}, accounts=accounts)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)

        def disabled() -> bool:
            assert chat(client, "qwen3-max", "still served") == "still served"
            return bool(accounts_view(gateway)["stale"]["state"] == "disabled")

        eventually(disabled, timeout=60)
        view = accounts_view(gateway)
        assert "auth endpoint refused" in view["stale"]["reason"], view["stale"]
        assert view["emu0"]["state"] == "ok"
    finally:
        gateway.stop()
        emulator.stop()
