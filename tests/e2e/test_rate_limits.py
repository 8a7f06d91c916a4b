"""Per-key limits as the SDKs see them: 429 with Retry-After and the rate-limit headers each SDK's error
object carries, in each API's error shape; per-key overrides; one count shared by two gateways on Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway
from tests.services import redis_binary, redis_url_with, start_redis, stop

ASK = [{"role": "user", "content": "count me"}]


def inside_one_window() -> None:
    """Counts live in one-minute windows aligned to the wall clock: once the gateways are up (which takes
    a while on a busy machine), start the requests well inside one, so they never straddle a turn (a wait of
    at most 15 s, not a timing assertion)."""
    into = time.time() % 60
    if into > 45:
        time.sleep(60 - into + 0.5)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "5", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    url, process = start_redis()
    yield url
    stop(process)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


def test_requests_per_minute_per_key_on_both_sdks(emulator: Service, store_url: str) -> None:
    env = {
        "STORE_URL": store_url,
        "GATEWAY_API_KEYS": "tight,loose",
        "RATE_LIMIT_RPM": "2",
        "RATE_LIMITS": json.dumps({"loose": {"rpm": 50}}),
    }
    gateway = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    inside_one_window()
    try:
        tight = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="tight", max_retries=0)
        first = tight.chat.completions.with_raw_response.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        assert first.parse().choices[0].message.content
        tight.chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as refused:
            tight.chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        error = refused.value
        assert error.status_code == 429 and error.code == "rate_limit_exceeded"
        assert error.type == "rate_limit_error" and "2 requests per minute" in error.message
        assert 1 <= int(error.response.headers["retry-after"]) <= 60
        assert error.response.headers["x-ratelimit-remaining-requests"] == "0"

        claude = anthropic.Anthropic(base_url=gateway.url, api_key="tight", max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as refused_too:
            claude.messages.create(model="claude-sonnet-4-5", max_tokens=32, messages=ASK)  # type: ignore[arg-type]
        assert refused_too.value.status_code == 429
        assert refused_too.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        headers = refused_too.value.response.headers
        assert headers["anthropic-ratelimit-requests-limit"] == "2"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        assert "x-ratelimit-limit-requests" not in headers

        loose = anthropic.Anthropic(base_url=gateway.url, api_key="loose", max_retries=0)
        raw = loose.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=32, messages=ASK)  # type: ignore[arg-type]
        assert raw.headers["anthropic-ratelimit-requests-limit"] == "50"
        assert raw.parse().content, "another key has its own budget"
    finally:
        gateway.stop()


def test_tokens_per_minute_refuse_once_spent(emulator: Service, store_url: str) -> None:
    gateway = start_gateway(
        {"STORE_URL": store_url, "GATEWAY_API_KEYS": "k", "RATE_LIMIT_TPM": "5"},
        accounts=emulator_accounts(emulator, 1),
    )
    inside_one_window()
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        spent = 0
        with pytest.raises(openai.RateLimitError) as refused:
            for _ in range(20):  # each answer's tokens are charged as it ends; the budget runs out
                reply = client.chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": "a few words for the count"}]
                )
                assert reply.usage is not None
                spent += reply.usage.total_tokens
        assert spent >= 5, "refused only once the tokens were spent"
        assert "tokens per minute" in refused.value.message
        assert refused.value.response.headers["x-ratelimit-remaining-tokens"] == "0"
        assert "x-ratelimit-limit-requests" not in refused.value.response.headers
    finally:
        gateway.stop()


def test_two_gateways_share_one_count_through_redis(emulator: Service, redis_url: str) -> None:
    env = {"STORE_URL": redis_url_with(redis_url, db=2), "GATEWAY_API_KEYS": "k", "RATE_LIMIT_RPM": "3"}
    one = start_gateway(env, accounts=emulator_accounts(emulator, 1))
    two = start_gateway(env, accounts=emulator_accounts(emulator, 1))
    inside_one_window()
    try:
        clients = [openai.OpenAI(base_url=f"{g.url}/v1", api_key="k", max_retries=0) for g in (one, two)]
        for client in (clients[0], clients[1], clients[0]):
            client.chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            clients[1].chat.completions.create(model="qwen3-max", messages=ASK)  # type: ignore[arg-type]
    finally:
        one.stop()
        two.stop()
