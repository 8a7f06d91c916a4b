"""Without a frequent scheduler (Vercel Hobby: crons at most daily) batches and videos still complete: the
deployment calls its own tick routes (SELF_BASE_URL here; on Vercel its production domain) with CRON_SECRET.
Driven by the openai and anthropic SDKs against `serve` with no background worker, and against every Vercel
function behind a stand-in for Vercel's router with a Redis store. Progress is watched through list calls,
which never advance anything, so only the self-triggered ticks can have done the work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from qwen_server.config import Settings
from tests.processes import Service, emulator_accounts, free_port, start_emulator, start_gateway
from tests.serverless.serverless_support import VercelHost, vercel_env
from tests.services import redis_service

SECRET = "cron-secret-xyz"
DEADLINE = 120  # seconds; each wait ends as soon as the state is reached


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "3", "--video-seconds", "0.5", accounts=2)
    yield service
    service.stop()


class Deployment:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def access(self) -> list[dict[str, object]]:
        """The access-log lines: JSON under `serve`, `METHOD ROUTE STATUS ...` on Vercel."""
        found: list[dict[str, object]] = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"route"' in line:
                doc = json.loads(line)
                found.append(doc.get("message") if isinstance(doc.get("message"), dict) else doc)
            elif line.startswith(("GET /", "POST /")):
                method, route, status = line.split()[:3]
                found.append({"method": method, "route": route, "status": int(status)})
        return found


@pytest.fixture(scope="module", params=["serve", "vercel"])
def deployment(
    request: pytest.FixtureRequest, emulator: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    data = tmp_path_factory.mktemp("self-tick")
    port = free_port()
    settings = {
        "GATEWAY_API_KEYS": "k",
        "CRON_SECRET": SECRET,
        "SELF_BASE_URL": f"http://127.0.0.1:{port}",
        "VIDEO_POLL_SECONDS": "0.2",
        "BLOB_URL": f"file://{data / 'blobs'}",
        "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 2)),
    }
    if request.param == "serve":  # no batch worker, and a video worker that never comes round
        gateway = start_gateway(
            {**settings, "BATCH_WORKER": "false", "VIDEO_TICK_SECONDS": "3600",
             "STORE_URL": f"sqlite:///{data / 'state.db'}"},
            port=port,
        )
        yield Deployment(gateway.url, gateway.log_path)
        gateway.stop()
        return
    with redis_service() as redis_url:
        host = VercelHost(vercel_env(REDIS_URL=redis_url, FILES_MAX_BYTES="100000", **settings), port=port)
        try:
            yield Deployment(host.url, host.log)
        finally:
            host.stop()


def _wait(fetch, done):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + DEADLINE
    value = fetch()
    while not done(value):
        assert time.monotonic() < deadline, f"never reached the expected state; last seen: {value!r}"
        time.sleep(0.2)
        value = fetch()
    return value


def test_an_openai_batch_completes_through_self_ticks(deployment: Deployment) -> None:
    client = openai.OpenAI(base_url=f"{deployment.url}/v1", api_key="k", max_retries=0)
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "qwen3-max", "messages": [{"role": "user", "content": f"answer {i}"}]}}
        for i in range(4)
    ]
    uploaded = client.files.create(
        file=("in.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode()), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    listed = _wait(
        lambda: {b.id: b for b in client.batches.list(limit=100)}[batch.id],
        lambda b: b.status == "completed",
    )
    assert listed.request_counts is not None and listed.request_counts.completed == 4
    output = client.files.content(listed.output_file_id or "").text.splitlines()
    assert sorted(json.loads(x)["custom_id"] for x in output) == ["r0", "r1", "r2", "r3"]
    ticks = [a for a in deployment.access() if a["route"] == "/internal/batches/tick"]
    assert ticks and all(a["status"] == 202 for a in ticks), ticks


def test_an_anthropic_batch_completes_through_self_ticks(deployment: Deployment) -> None:
    client = anthropic.Anthropic(base_url=deployment.url, api_key="k", max_retries=0)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    batch = client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params}, {"custom_id": "b", "params": params}]  # type: ignore[list-item]
    )
    ended = _wait(
        lambda: {b.id: b for b in client.messages.batches.list(limit=100)}[batch.id],
        lambda b: b.processing_status == "ended",
    )
    assert ended.request_counts.succeeded == 2
    assert ended.results_url == f"{deployment.url}/v1/messages/batches/{batch.id}/results"
    assert sorted(r.custom_id for r in client.messages.batches.results(batch.id)) == ["a", "b"]


def test_a_video_completes_through_self_ticks(deployment: Deployment) -> None:
    client = openai.OpenAI(base_url=f"{deployment.url}/v1", api_key="k", max_retries=0)
    created = client.videos.create(model="sora-2", prompt="a paper boat", seconds="4")
    assert created.status == "queued"
    done = _wait(
        lambda: {v.id: v for v in client.videos.list(limit=100)}[created.id],
        lambda v: v.status in ("completed", "failed"),
    )
    assert done.status == "completed"
    assert client.videos.download_content(created.id).content[4:8] == b"ftyp"
    ticks = [a for a in deployment.access() if a["route"] == "/internal/cron/videos"]
    assert ticks and all(a["status"] == 202 for a in ticks), ticks


def test_the_tick_routes_refuse_without_the_secret(deployment: Deployment) -> None:
    import httpx

    for path in ("/internal/batches/tick", "/internal/cron/videos"):
        wrong = httpx.get(f"{deployment.url}{path}", headers={"authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401, wrong.text
        cron = httpx.get(f"{deployment.url}{path}", headers={"authorization": f"Bearer {SECRET}"}, timeout=60)
        assert cron.status_code == 200 and cron.json()["skipped" if "videos" in path else "batches"] == 0


def _settings(**env: str) -> Settings:
    return Settings(_env_file=None, cron_secret=SECRET, **env)  # type: ignore[arg-type]


def test_a_production_deployment_calls_its_public_production_domain() -> None:
    """Vercel's Deployment Protection (on by default, Hobby included) answers 401 on generated deployment URLs
    such as $VERCEL_URL; the production domain stays public, so production calls itself there."""
    from qwen_server.app.self_tick import BYPASS_HEADER, self_base, self_headers

    production = _settings(
        vercel="1", vercel_env="production", vercel_url="proj-abc123-team.vercel.app",
        vercel_project_production_url="proj.vercel.app",
    )
    assert self_base(production) == "https://proj.vercel.app"
    assert self_headers(production) == {
        "authorization": f"Bearer {SECRET}", "x-qwen-self-tick": "1"
    }
    preview = _settings(
        vercel="1", vercel_env="preview", vercel_url="proj-git-x-team.vercel.app",
        vercel_project_production_url="proj.vercel.app", vercel_automation_bypass_secret="bypass-1",
    )
    assert self_base(preview) == "https://proj-git-x-team.vercel.app"
    assert self_headers(preview)[BYPASS_HEADER] == "bypass-1"
    chosen = _settings(
        vercel="1", vercel_env="production", vercel_project_production_url="proj.vercel.app",
        self_base_url="https://api.example.com/", vercel_automation_bypass_secret="bypass-1",
    )
    assert self_base(chosen) == "https://api.example.com"
    assert BYPASS_HEADER not in self_headers(chosen), "the bypass secret goes to Vercel only"
    assert self_base(_settings(vercel_url="proj.vercel.app")) is None  # not on Vercel
