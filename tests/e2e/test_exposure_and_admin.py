"""Fail-closed deploys, the admin API and the operator views, through the real SDKs and HTTP against the
gateway and the emulator as their own processes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway
from tests.waiting import eventually

ASK = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "3", accounts=3)
    yield service
    service.stop()


def tenant(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def access_lines(gateway: Service) -> list[dict[str, Any]]:
    lines = []
    for line in gateway.log().splitlines():
        if line.startswith("{") and '"request_id"' in line:
            lines.append(json.loads(line))
    return lines


def test_a_gateway_bound_to_a_public_address_without_keys_refuses_every_api_route(emulator: Service) -> None:
    gateway = start_gateway({"HOST": "0.0.0.0"}, accounts=emulator_accounts(emulator, 1))
    try:
        assert "is not a loopback address" in gateway.log()
        oai = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="anything", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            oai.chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        assert refused.value.status_code == 401
        assert refused.value.code == "gateway_keys_required"
        assert "GATEWAY_API_KEYS" in refused.value.message and "ALLOW_ANONYMOUS" in refused.value.message
        with pytest.raises(openai.AuthenticationError):
            oai.models.list()
        claude = anthropic.Anthropic(base_url=gateway.url, api_key="anything", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as refused_too:
            claude.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=ASK)  # type: ignore[arg-type]
        assert refused_too.value.status_code == 401
        assert refused_too.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        with pytest.raises(anthropic.AuthenticationError):
            claude.messages.count_tokens(model="claude-sonnet-4-5", messages=ASK)  # type: ignore[arg-type]
        for path in ("/v1/metrics", "/metrics"):
            assert httpx.get(f"{gateway.url}{path}", timeout=30).status_code == 401, path
        assert httpx.get(f"{gateway.url}/health", timeout=30).status_code == 200
        assert httpx.head(f"{gateway.url}/health", timeout=30).status_code == 200
    finally:
        gateway.stop()


def test_allow_anonymous_or_keys_open_a_public_gateway(emulator: Service) -> None:
    anonymous = start_gateway(
        {"HOST": "0.0.0.0", "ALLOW_ANONYMOUS": "true"}, accounts=emulator_accounts(emulator, 1)
    )
    keyed = start_gateway(
        {"HOST": "0.0.0.0", "GATEWAY_API_KEYS": "k1"}, accounts=emulator_accounts(emulator, 1)
    )
    try:
        reply = openai.OpenAI(
            base_url=f"{anonymous.url}/v1", api_key="x", max_retries=0
        ).chat.completions.create(
            model="qwen3-max",
            messages=ASK,  # type: ignore[arg-type]
        )
        assert reply.choices[0].message.content
        ok = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="k1", max_retries=0)
        assert ok.chat.completions.create(model="qwen3-max", messages=ASK).choices[0].message.content  # type: ignore[arg-type]
        wrong = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="k2", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        assert refused.value.code == "invalid_api_key"
    finally:
        anonymous.stop()
        keyed.stop()


def test_admin_api_accounts_usage_and_operator_views(emulator: Service, tmp_path: Path) -> None:
    accounts = emulator_accounts(emulator, 3)
    (tmp_path / "qwen_accounts.json").write_text(json.dumps(accounts))
    gateway = start_gateway(
        {"GATEWAY_API_KEYS": "key-alpha,key-beta", "ADMIN_API_KEYS": "root"}, cwd=tmp_path
    )
    admin = {"authorization": "Bearer root"}
    try:
        # operator views need the admin key once ADMIN_API_KEYS is set
        as_client = httpx.get(f"{gateway.url}/v1/metrics", headers={"x-api-key": "key-alpha"}, timeout=30)
        assert as_client.status_code == 403 and as_client.json()["error"]["type"] == "permission_error"
        assert httpx.get(f"{gateway.url}/v1/metrics", headers=admin, timeout=30).status_code == 200

        rows = httpx.get(f"{gateway.url}/admin/accounts", headers=admin, timeout=30).json()["data"]
        ids = {row["name"]: row["id"] for row in rows}
        assert {row["state"] for row in rows} == {"ok"} and all("reason" in row for row in rows)

        off = httpx.post(
            f"{gateway.url}/admin/accounts/{ids['emu0']}/disable",
            json={"reason": "rotating its password"},
            headers=admin,
            timeout=10,
        )
        assert off.status_code == 200, off.text
        assert (off.json()["state"], off.json()["reason"]) == ("disabled", "rotating its password")
        bad = httpx.post(
            f"{gateway.url}/admin/accounts/{ids['emu1']}/disable",
            json={"seconds": -3},
            headers=admin,
            timeout=10,
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "seconds"

        alpha = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-alpha", max_retries=0)
        beta = anthropic.Anthropic(base_url=gateway.url, api_key="key-beta", max_retries=0)
        for _ in range(6):
            assert alpha.chat.completions.create(model="qwen3-max", messages=ASK).choices[0].message.content  # type: ignore[arg-type]
        for _ in range(2):
            assert beta.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=ASK).content  # type: ignore[arg-type]
        streamed = alpha.chat.completions.create(model="qwen3-max", messages=ASK, stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        with beta.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=ASK) as events:  # type: ignore[arg-type]
            assert events.get_final_text()

        # the access log names tenant, account, model and tokens; the disabled account served nobody
        def served_lines() -> list[dict[str, Any]]:
            routes = ("/v1/chat/completions", "/v1/messages")
            return [line for line in access_lines(gateway) if line["route"] in routes]

        # a stream's line is written once the server has finished it, which may be after the client has
        eventually(lambda: len(served_lines()) >= 10, what="an access log line per answered request")
        served = served_lines()
        assert len(served) == 10
        assert sorted(line["stream"] for line in served).count(True) == 2
        assert {line["tenant"] for line in served} == {tenant("key-alpha"), tenant("key-beta")}
        assert {line["account"] for line in served} <= {"emu1", "emu2"}
        assert {line["model"] for line in served} == {"qwen3-max", "claude-sonnet-4-5"}
        assert all(
            line["usage"]["input_tokens"] > 0 and line["usage"]["output_tokens"] > 0 for line in served
        )
        assert "key-alpha" not in gateway.log() and "key-beta" not in gateway.log()

        on = httpx.post(f"{gateway.url}/admin/accounts/{ids['emu0']}/enable", headers=admin, timeout=30)
        assert on.json()["state"] == "ok"
        probe = httpx.post(f"{gateway.url}/admin/accounts/{ids['emu0']}/probe", headers=admin, timeout=30)
        assert probe.status_code == 200 and probe.json()["verified"] is True

        usage = httpx.get(f"{gateway.url}/admin/usage", headers=admin, timeout=30).json()["data"]
        by_tenant = {row["tenant"]: row for row in usage}
        assert by_tenant[tenant("key-alpha")]["requests"] == 7
        assert by_tenant[tenant("key-beta")]["requests"] == 3
        assert by_tenant[tenant("key-alpha")]["output_tokens"] > 0

        (tmp_path / "qwen_accounts.json").write_text(json.dumps(accounts[:2]))
        reloaded = httpx.post(f"{gateway.url}/admin/accounts/reload", headers=admin, timeout=30)
        assert reloaded.status_code == 200 and reloaded.json()["accounts"] == 2
        names = {
            row["name"]
            for row in httpx.get(f"{gateway.url}/admin/accounts", headers=admin, timeout=30).json()["data"]
        }
        assert names == {"emu0", "emu1"}

        for path in ("/admin/usage", "/admin/accounts/reload"):
            method = httpx.get if path.endswith("usage") else httpx.post
            assert (
                method(f"{gateway.url}{path}", headers={"x-api-key": "key-alpha"}, timeout=30).status_code
                == 403
            )

        text = httpx.get(f"{gateway.url}/metrics", headers=admin, timeout=30)
        assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
        assert 'qwen_gateway_requests_total{route="/v1/chat/completions",status="200"} 7.0' in text.text
        assert 'qwen_gateway_account_state{account="emu0",state="ok"} 1.0' in text.text
    finally:
        gateway.stop()


def test_cors_preflight_and_exposed_headers(emulator: Service) -> None:
    gateway = start_gateway({"CORS_ORIGINS": "https://app.example"}, accounts=emulator_accounts(emulator, 1))
    plain = start_gateway(accounts=emulator_accounts(emulator, 1))
    preflight = {
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-api-key",
    }
    try:
        answer = httpx.options(f"{gateway.url}/v1/chat/completions", headers=preflight, timeout=30)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        stranger = httpx.options(
            f"{gateway.url}/v1/chat/completions",
            headers={**preflight, "origin": "https://evil.example"},
            timeout=10,
        )
        assert "access-control-allow-origin" not in stranger.headers
        call = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "qwen3-max", "messages": ASK},
            headers={"origin": "https://app.example"},
            timeout=30,
        )
        assert call.status_code == 200
        assert call.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in call.headers["access-control-expose-headers"]
        closed = httpx.options(f"{plain.url}/v1/chat/completions", headers=preflight, timeout=30)
        assert "access-control-allow-origin" not in closed.headers
    finally:
        gateway.stop()
        plain.stop()
