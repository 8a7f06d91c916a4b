"""One access-log line per request with the fields a person looks for (request id, tenant, account, model,
status, latency, tokens), in each platform's form: the Powertools Logger's JSON on Lambda (Web Adapter and
Mangum functions), `key=value` on stdout on Vercel (its log view files stderr as errors), JSON on stderr
under `serve`. Read from each server process's own output."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.processes import Service, emulator_accounts, free_port, start_emulator, start_gateway, wait_http
from tests.serverless.serverless_support import (
    FUNCTIONS,
    VercelHost,
    http_api_event,
    invoke,
    json_lines,
    lambda_env,
    stop,
    vercel_env,
)
from tests.services import redis_service

KEY = "key-of-tenant-a"
FIELDS = ("request_id", "tenant", "account", "model", "status", "latency_ms")


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "9", accounts=1)
    yield service
    service.stop()


def _tenant() -> str:
    from qwen_server.app.auth import tenant_id

    return tenant_id(KEY)


def test_lambda_web_adapter_function_writes_one_powertools_line(emulator: Service) -> None:
    port = free_port()
    env = lambda_env(
        "qwen-messages",
        PORT=str(port),
        STORE_URL="memory://",
        GATEWAY_API_KEYS=KEY,
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
        AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap",
        AWS_LWA_READINESS_CHECK_PATH="/health",
    )
    log = Path(tempfile.mkstemp(prefix="logs-messages-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(FUNCTIONS / "messages" / "run.sh")],
            cwd=tempfile.mkdtemp(prefix="logs-task-"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    invocation = str(uuid.uuid4())
    forwarded = {  # what the Web Adapter adds to an invocation it forwards
        "x-amzn-request-context": json.dumps({"requestId": "api-req", "stage": "prod", "path": "/prod/v1/messages"}),
        "x-amzn-lambda-context": json.dumps({"request_id": invocation, "deadline": 0}),
    }
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        client = anthropic.Anthropic(
            base_url=f"http://127.0.0.1:{port}", api_key=KEY, max_retries=0, default_headers=forwarded
        )
        reply = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "log me please"}]
        )
    finally:
        stop(process)
    lines = [d for d in json_lines(log.read_text().splitlines()) if isinstance(d.get("message"), dict)]
    (line,) = [d for d in lines if d["message"]["route"] == "/v1/messages"]
    assert line["level"] == "INFO" and line["service"] == "qwen-api-server" and "timestamp" in line
    fields = line["message"]
    assert all(fields.get(k) not in (None, "") for k in FIELDS), fields
    assert fields["aws_request_id"] == invocation and fields["status"] == 200
    assert fields["tenant"] == _tenant() and fields["model"] == "claude-sonnet-4-5"
    assert fields["account"] == "emu0"
    assert fields["usage"] == {
        "input_tokens": reply.usage.input_tokens,
        "output_tokens": reply.usage.output_tokens,
    }
    assert KEY not in log.read_text(), "the gateway key never reaches the log"


def test_lambda_mangum_function_carries_the_invocation_id(emulator: Service) -> None:
    env = lambda_env("qwen-meta", STORE_URL="memory://", QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)))
    result = invoke("meta", [http_api_event("GET", "/v1/models")], env)
    lines = [d["message"] for d in json_lines(result["stdout"]) if isinstance(d.get("message"), dict)]
    (line,) = [x for x in lines if x["route"] == "/v1/models"]
    assert line["status"] == 200 and re.fullmatch(r"[0-9a-f-]{36}", line["aws_request_id"]), line


def test_vercel_line_is_key_value_on_stdout(emulator: Service) -> None:
    with redis_service() as redis_url:
        host = VercelHost(
            vercel_env(
                REDIS_URL=redis_url, GATEWAY_API_KEYS=KEY, QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1))
            )
        )
        try:
            client = openai.OpenAI(base_url=f"{host.url}/v1", api_key=KEY, max_retries=0)
            done = client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": "vercel logs"}]
            )
        finally:
            host.stop()
    stdout = host.log.read_text().splitlines()
    (line,) = [x for x in stdout if x.startswith("POST /v1/chat/completions ")]
    assert re.match(r"POST /v1/chat/completions 200 [0-9.]+ms request_id=req_\w+ ", line), line
    pairs = dict(p.split("=", 1) for p in line.split()[4:])
    assert pairs["tenant"] == _tenant() and pairs["account"] == "emu0" and pairs["model"] == "qwen3-max"
    assert done.usage is not None
    assert int(pairs["input_tokens"]) == done.usage.prompt_tokens
    assert int(pairs["output_tokens"]) == done.usage.completion_tokens
    assert "/v1/chat/completions" not in host.errors.read_text(), "not filed as an error"


def test_serve_writes_json_on_stderr(emulator: Service) -> None:
    gateway = start_gateway({"GATEWAY_API_KEYS": KEY}, accounts=emulator_accounts(emulator, 1))
    try:
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0).chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "local logs"}]
        )
    finally:
        gateway.stop()
    docs = [d for d in json_lines(gateway.log().splitlines()) if d.get("route") == "/v1/chat/completions"]
    (line,) = docs
    assert all(line.get(k) not in (None, "") for k in FIELDS) and line["usage"]["output_tokens"] > 0
