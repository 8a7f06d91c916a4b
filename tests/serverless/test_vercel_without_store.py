"""A Vercel deployment without a store (no STORE_URL, REDIS_URL or KV_URL) answers every route of every
function 503, in the caller's API shape, naming what to connect, instead of failing to open SQLite in a
read-only project folder; no traceback, and nothing is kept in an instance's /tmp."""

from __future__ import annotations

import re
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from qwen_server.app.factory import ALWAYS, ROUTES
from tests.serverless.serverless_support import VercelHost, vercel_env

SAMPLE = "abc123"


@pytest.fixture(scope="module")
def host() -> Iterator[VercelHost]:
    service = VercelHost(vercel_env(GATEWAY_API_KEYS="k", CRON_SECRET="c"))
    yield service
    service.stop()


def _routes() -> list[tuple[str, str]]:
    found = {(m, re.sub(r"\{\w+(?::\w+)?\}", SAMPLE, p)) for g in ROUTES.values() for m, p, _ in g}
    return sorted(found | {(m, p) for m, p, _ in ALWAYS})


def test_every_route_names_what_to_connect(host: VercelHost) -> None:
    routes = _routes()
    assert len(routes) > 40
    with httpx.Client(base_url=host.url, headers={"authorization": "Bearer k"}, timeout=30) as client:
        for method, path in routes:
            response = client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 503, (method, path, response.text)
            body = response.json()
            if path.startswith("/v1/messages"):
                assert body["type"] == "error" and body["error"]["type"] == "api_error", (path, body)
            else:
                assert body["error"]["code"] == "gateway_misconfigured", (path, body)
            message = body["error"]["message"]
            assert "REDIS_URL" in message and "STORE_URL" in message and "Upstash" in message, message
            assert response.headers["x-should-retry"] == "false"


def test_the_sdks_see_it_and_nothing_was_written(host: VercelHost) -> None:
    chat = openai.OpenAI(base_url=f"{host.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as opened:
        chat.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "hi"}])
    assert opened.value.status_code == 503 and "REDIS_URL" in opened.value.message
    with pytest.raises(openai.APIStatusError) as uploaded:
        chat.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
    assert uploaded.value.status_code == 503
    claude = anthropic.Anthropic(base_url=host.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as messaged:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert messaged.value.status_code == 503 and "REDIS_URL" in messaged.value.message
    output = host.output()
    assert "Traceback" not in output
    assert "every request answers 503" in output
    assert list(host.workdir.iterdir()) == []  # no data/state.db, no blobs: nothing kept per instance
