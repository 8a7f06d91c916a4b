"""Batch processing by separate worker processes sharing the store (SQLite and Redis): a worker SIGKILLed
mid-batch and another finishing it with every line answered exactly once; cancel mid-batch; blobs on S3 (moto).

The emulator is slowed by its `--token-latency` knob so a batch is still running when the test acts on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.batches.helpers import chat_line, jsonl, wait_for
from tests.processes import Service, _spawn, emulator_accounts, start_emulator, start_gateway
from tests.services import moto_service, redis_binary, redis_service

PROMPT = " ".join(f"word{i}" for i in range(12))  # echoed back piece by piece: about a second per line


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", "--token-latency", "0.08", accounts=3)
    yield service
    service.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


def worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    process, _ = _spawn([sys.executable, "-m", "qwen_server.cli", "worker"], {**os.environ, **env}, "worker")
    return process


def shared_env(emulator: Service, store: str, data_dir: Path) -> dict[str, str]:
    return {
        "STORE_URL": store,
        "DATA_DIR": str(data_dir),
        "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 3)),
        "BATCH_CHUNK_LINES": "3",
        "BATCH_LEASE_SECONDS": "5",  # a killed worker's chunk comes back soon; a paused one keeps it
        "SCHED_BATCH_CONCURRENT": "2",
        "PYTHONUNBUFFERED": "1",
    }


def test_a_killed_worker_s_chunk_is_taken_over_and_every_line_answered_once(
    slow_emulator: Service, store_url: str, tmp_path: Path
) -> None:
    env = shared_env(slow_emulator, store_url, tmp_path / "data")
    gateway = start_gateway({**env, "BATCH_WORKER": "false"})
    first = second = None
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        ids = [f"line-{i}" for i in range(12)]
        uploaded = client.files.create(
            file=("in.jsonl", jsonl([chat_line(c, PROMPT) for c in ids])), purpose="batch"
        )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        first = worker(env)
        wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.request_counts.completed >= 2)  # type: ignore[union-attr]
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        partial = client.batches.retrieve(batch.id)
        assert partial.status == "in_progress" and partial.request_counts.completed < 12  # type: ignore[union-attr]

        second = worker(env)
        done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
        assert done.request_counts and (done.request_counts.completed, done.request_counts.failed) == (12, 0)
        assert done.error_file_id is None and done.output_file_id
        output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
        assert sorted(o["custom_id"] for o in output) == sorted(ids)  # each line exactly once
        assert all(o["response"]["body"]["choices"][0]["message"]["content"] == PROMPT for o in output)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait()
        gateway.stop()


def test_cancel_mid_batch_stops_new_lines(slow_emulator: Service, tmp_path: Path) -> None:
    env = shared_env(slow_emulator, f"sqlite:///{tmp_path / 'state.db'}", tmp_path / "data")
    gateway = start_gateway({**env, "SCHED_BATCH_CONCURRENT": "1"})  # the worker inside serve
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        lines = [chat_line(f"c{i}", PROMPT) for i in range(30)]
        uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.request_counts.completed >= 1)  # type: ignore[union-attr]
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
        done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "cancelled")
        counts = done.request_counts
        assert counts and counts.total == 30 and counts.completed >= 1 and counts.failed >= 1
        assert counts.completed + counts.failed == 30
        assert done.error_file_id and done.cancelled_at
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
        assert len(errors) == counts.failed
        assert all(e["error"]["code"] == "batch_cancelled" and e["response"] is None for e in errors)
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)

        ant = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
        params = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        mb = ant.messages.batches.create(
            requests=[{"custom_id": f"m{i}", "params": params} for i in range(30)]
        )  # type: ignore[misc]
        wait_for(lambda: ant.messages.batches.retrieve(mb.id), lambda b: b.request_counts.succeeded >= 1)
        assert ant.messages.batches.cancel(mb.id).processing_status in ("canceling", "ended")
        ended = wait_for(
            lambda: ant.messages.batches.retrieve(mb.id), lambda b: b.processing_status == "ended"
        )
        assert ended.request_counts.canceled >= 1 and ended.request_counts.succeeded >= 1
        kinds = [r.result.type for r in ant.messages.batches.results(mb.id)]
        assert len(kinds) == 30 and set(kinds) == {"succeeded", "canceled"}
    finally:
        gateway.stop()


def test_files_and_batch_results_on_s3(emulator: Service) -> None:
    with moto_service() as endpoint:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="qwen-files")
        data_dir = Path(tempfile.mkdtemp(prefix="s3-gw-"))
        gateway = start_gateway(
            {"BLOB_URL": "s3://qwen-files/gw", "S3_ENDPOINT_URL": endpoint, "DATA_DIR": str(data_dir)},
            accounts=emulator_accounts(emulator, 2),
        )
        try:
            client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
            uploaded = client.files.create(
                file=("in.jsonl", jsonl([chat_line("s1", "on s3"), chat_line("s2", "also on s3")])),
                purpose="batch",
            )
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
            assert done.output_file_id
            output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
            assert [o["response"]["body"]["choices"][0]["message"]["content"] for o in output] == [
                "on s3",
                "also on s3",
            ]
            keys = [
                o["Key"]
                for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="qwen-files")[
                    "Contents"
                ]
            ]
            assert any(k.endswith(uploaded.id) for k in keys) and any(
                k.endswith(done.output_file_id) for k in keys
            )
            assert not (data_dir / "blobs").exists()  # nothing went to local files
        finally:
            gateway.stop()


def test_the_cron_tick_route_needs_cron_secret_and_runs_the_worker(emulator: Service, tmp_path: Path) -> None:
    env = shared_env(emulator, f"sqlite:///{tmp_path / 'state.db'}", tmp_path / "data")
    blobs = tmp_path / "data" / "blobs"
    at_start = expired_blob(blobs, "at-start")  # for serve's own sweep, which runs as it starts
    gateway = start_gateway({**env, "BATCH_WORKER": "false", "CRON_SECRET": "cron-s3cret"})
    closed = start_gateway({**env, "BATCH_WORKER": "false", "DATA_DIR": str(tmp_path / "closed")})
    try:
        assert httpx.get(f"{closed.url}/internal/batches/tick").status_code == 403
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        uploaded = client.files.create(
            file=("in.jsonl", jsonl([chat_line(f"t{i}", "tick") for i in range(4)])), purpose="batch"
        )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        tick = f"{gateway.url}/internal/batches/tick"
        assert httpx.get(tick).status_code == 401
        assert httpx.get(tick, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.batches.retrieve(batch.id).status == "in_progress"  # no worker runs but the tick
        wait_for(at_start.exists, lambda there: not there)  # serve's own sweep has run: the rest is the ticks'
        swept = expired_blob(blobs, "first")
        ran = httpx.get(tick, headers={"authorization": "Bearer cron-s3cret"}, timeout=120)
        assert ran.status_code == 200 and ran.json() == {"batches": 1, "lines": 4, "finalized": 1, "remaining": 0}
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts and done.request_counts.completed == 4
        # the tick swept expired blobs too, and the next within BLOB_SWEEP_SECONDS (anywhere) does not
        assert not swept.exists()
        kept = expired_blob(blobs, "second")
        ran = httpx.get(tick, headers={"authorization": "Bearer cron-s3cret"}, timeout=120)
        assert ran.status_code == 200 and kept.exists(), "a second tick within BLOB_SWEEP_SECONDS sweeps nothing"
    finally:
        gateway.stop()
        closed.stop()


def expired_blob(blobs: Path, name: str) -> Path:
    """A local blob written with an expiry mark long past, as the blob store writes them."""
    path = blobs / "images" / "t" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"png")
    mark = blobs / ".expiry" / "images" / "t" / f"{name}.png"
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("1000000000.000")
    return path


def test_the_window_expires_what_is_left(emulator: Service, tmp_path: Path) -> None:
    """A batch past its 24 h window (its record's `expires_at` moved back in the shared store) ends as expired:
    every line without a result gets an expired one, on both APIs."""
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    env = shared_env(emulator, store_url, tmp_path / "data")
    gateway = start_gateway({**env, "BATCH_WORKER": "false"})
    runner = None
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        uploaded = client.files.create(
            file=("in.jsonl", jsonl([chat_line(f"e{i}", "late") for i in range(3)])), purpose="batch"
        )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        ant = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
        params = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "late"}],
        }
        mb = ant.messages.batches.create(requests=[{"custom_id": "x", "params": params}])  # type: ignore[list-item]
        asyncio.run(_age(store_url, [batch.id, mb.id]))

        runner = worker(env)
        done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "expired")
        assert (
            done.expired_at
            and done.request_counts
            and (done.request_counts.completed, done.request_counts.failed) == (0, 3)
        )
        assert done.error_file_id and done.output_file_id is None
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
        assert [e["error"]["code"] for e in errors] == ["batch_expired"] * 3
        ended = wait_for(
            lambda: ant.messages.batches.retrieve(mb.id), lambda b: b.processing_status == "ended"
        )
        assert ended.request_counts.expired == 1
        assert [r.result.type for r in ant.messages.batches.results(mb.id)] == ["expired"]
    finally:
        if runner is not None:
            runner.terminate()
            runner.wait()
        gateway.stop()


async def _age(store_url: str, batch_ids: list[str]) -> None:
    """Move the batches' windows into the past, as 24 h passing would."""
    from qwen_server.batches import records
    from qwen_server.store import open_store

    store = open_store(store_url)
    try:
        for key in await store.scan("batch:"):
            _, tenant, batch_id = key.split(":", 2)
            if batch_id in batch_ids:
                await records.update(store, tenant, batch_id, _expire)
    finally:
        await store.close()


def _expire(record: Any) -> bool:
    record.expires_at = record.created_at - 1
    return True
