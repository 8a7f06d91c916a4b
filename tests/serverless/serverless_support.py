"""Helpers for the serverless tests: synthetic Lambda events, a Lambda-like handler driver, a moto server.

`sam local` needs Docker, which is absent, so handlers are invoked the way the managed Python runtime does:
a fresh process with the function's folder as its working directory and first on sys.path.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
DRIVER = Path(__file__).resolve().parent / "lambda_driver.py"
REGION = "us-east-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_OURS = ("QWEN_", "GATEWAY_", "STORE_", "AWS_", "POWERTOOLS_", "REDIS_URL", "KV_URL", "VERCEL")


def require_group(group: str) -> None:
    """Skip when the factory has no such group yet (it is being built elsewhere), instead of failing."""
    from qwen_server.app.factory import ROUTES

    if group not in ROUTES:
        pytest.skip(f"build_app has no {group!r} group yet (ROUTES lacks it); its function is written ahead")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any of our settings or AWS variables, `python` = this venv's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def lambda_env(function_name: str, **extra: str) -> dict[str, str]:
    """What the Lambda runtime sets that our code looks at, plus fake credentials (never real ones).

    A deployed gateway refuses anonymous calls; these tests serve without keys, so they say so
    (ALLOW_ANONYMOUS), as a deployer would. `lambda_env(..., ALLOW_ANONYMOUS="false")` tests the refusal."""
    settings = {"ALLOW_ANONYMOUS": "true", **extra}
    return clean_env(AWS_LAMBDA_FUNCTION_NAME=function_name, **FAKE_AWS, **settings)


def _v2_event(
    method: str,
    path: str,
    *,
    domain: str,
    route_key: str,
    body: str | bytes | None,
    headers: dict[str, str] | None,
    query: str,
    encode_body: bool,
) -> dict[str, Any]:
    now = time.time()
    raw_body: str | None
    if body is None:
        raw_body = None
    elif encode_body:
        raw_body = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode()
    else:
        raw_body = body if isinstance(body, str) else body.decode()
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": domain,
            "user-agent": "pytest",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "203.0.113.9",
            **({"content-type": "application/json"} if body is not None else {}),
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        **({"body": raw_body} if raw_body is not None else {}),
        "isBase64Encoded": encode_body and body is not None,
    }


def http_api_event(
    method: str,
    path: str,
    route: str | None = None,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0 (`route` is the matched route template)."""
    return _v2_event(
        method,
        path,
        domain="abc123.execute-api.us-east-1.amazonaws.com",
        route_key=f"{method} {route or path}",
        body=body,
        headers=headers,
        query=query,
        encode_body=False,
    )


def rest_api_event(
    method: str,
    path: str,
    resource: str | None = None,
    *,
    stage: str = "prod",
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    binary: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload 1.0) as API Gateway sends it: `path` is the public path
    without the stage, which only `requestContext.path` carries; `resource` is the matched resource template;
    headers come twice (`headers`, `multiValueHeaders`); a body of a type listed in `BinaryMediaTypes`
    (`binary=True`) arrives base64-encoded."""
    sent = {
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        **(headers or {}),
    }
    raw: str | None
    if body is None:
        raw = None
    elif binary:
        raw = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode()
    else:
        raw = body if isinstance(body, str) else body.decode()
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": f"req-{time.time_ns()}",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "test"},
            "domainName": sent["host"],
            "apiId": "abc123",
        },
        "body": raw,
        "isBase64Encoded": binary and body is not None,
    }


def function_url_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    encode_body: bool = False,
) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0, route key `$default`, body often base64-encoded)."""
    return _v2_event(
        method,
        path,
        domain="xyz789.lambda-url.us-east-1.on.aws",
        route_key="$default",
        body=body,
        headers=headers,
        query=query,
        encode_body=encode_body,
    )


def invoke(
    function: str, events: list[dict[str, Any]], env: dict[str, str], target: str = "handler.handler"
) -> dict[str, Any]:
    """Invoke a function's handler on each event in one fresh Lambda-like process (a cold start, then warm).

    Returns {"responses": [...], "modules": {name: imported?}, "stdout": [lines]}.
    """
    work = Path(tempfile.mkdtemp(prefix=f"lambda-{function}-"))
    events_path, out_path = work / "events.json", work / "out.json"
    events_path.write_text(json.dumps(events))
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(FUNCTIONS / function), target, str(events_path), str(out_path)],
        cwd=FUNCTIONS / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"handler process failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(out_path.read_text())
    result["stdout"] = done.stdout.splitlines()
    result["stderr"] = done.stderr.splitlines()
    return result


def body_json(response: dict[str, Any]) -> Any:
    raw = response.get("body", "")
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw)


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON objects among a process's output lines (access log lines, EMF lines)."""
    found = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def emf_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [doc for doc in json_lines(lines) if "_aws" in doc]


def start_moto() -> tuple[str, subprocess.Popen[bytes]]:
    """moto's server on a free loopback port (Secrets Manager, SSM, DynamoDB); returns (endpoint, process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=clean_env(**FAKE_AWS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=5)
            return endpoint, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class VercelHost:
    """tests/serverless/vercel_host.py as its own process: every Vercel function of vercel.json behind a
    stand-in for Vercel's router, with `env` as the functions' environment."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = Path(tempfile.mkstemp(prefix="vercel-host-", suffix=".log")[1])
        self.workdir = Path(tempfile.mkdtemp(prefix="vercel-task-"))  # the project folder (/var/task)
        self.errors = self.log.with_suffix(".stderr")  # Vercel shows stdout as info, stderr as errors
        with self.log.open("wb") as out, self.errors.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve().parent / "vercel_host.py"), str(self.port)],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                stop(self.process)
                raise RuntimeError(self.output())
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """stdout, then stderr."""
        return self.log.read_text(errors="replace") + self.errors.read_text(errors="replace")

    def stop(self) -> str:
        stop(self.process)
        return self.output()


def vercel_env(**extra: str) -> dict[str, str]:
    """What Vercel sets in a function that our code looks at (no store unless `extra` names one)."""
    return clean_env(VERCEL="1", VERCEL_ENV="production", VERCEL_URL="qwen-test.vercel.app", **extra)
