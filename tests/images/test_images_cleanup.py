"""A client that leaves while its images are being drawn frees its media-class slot and its account slot, on
SQLite and on Redis (where the awaits that must not be skipped are real)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.images.media_helpers import client_for
from tests.processes import emulator_accounts, start_emulator, start_gateway
from tests.services import redis_binary, redis_service


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


def test_a_client_that_leaves_frees_its_slots(store_url: str) -> None:
    emulator = start_emulator("--first-token-latency", "2", accounts=1)
    env = {"STORE_URL": store_url, "SCHED_MEDIA_CONCURRENT": "1"}
    gateway = start_gateway(env, accounts=emulator_accounts(emulator, 1, max_concurrent=1))
    try:
        impatient = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            impatient.images.generate(prompt="a slow painting")
        metrics: dict = {}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the gateway noticed the client leave while the upstream drew
            metrics = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()
            left = '"route":"/v1/images/generations","status":499' in gateway.log()
            if (
                left
                and metrics["scheduler"]["media"]["in_flight"] == 0
                and metrics["accounts"][0]["in_flight"] == 0
            ):
                break
            time.sleep(0.05)
        assert '"route":"/v1/images/generations","status":499' in gateway.log()
        assert metrics["scheduler"]["media"]["in_flight"] == 0
        assert metrics["accounts"][0]["in_flight"] == 0
        assert metrics["accounts"][0]["state"] == "ok"  # leaving is not the account's fault
        answer = client_for(gateway, "k").images.generate(
            prompt="a patient painting", response_format="b64_json"
        )
        assert answer.data[0].b64_json
    finally:
        gateway.stop()
        emulator.stop()
