"""EMF metrics: added by `prepare` on Lambda only, one line per request, probes and Vercel left out."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from qwen_server.serverless import on_lambda, prepare
from qwen_server.serverless.metrics import EmfMiddleware


def tiny_app() -> FastAPI:
    app = FastAPI()

    async def ok(request: Request) -> Response:
        request.scope.setdefault("state", {})["route"] = "/ok"
        return JSONResponse({"ok": True})

    async def boom(request: Request) -> Response:
        request.scope.setdefault("state", {})["route"] = "/boom"
        raise RuntimeError("boom")

    app.add_route("/ok", ok)
    app.add_route("/boom", boom)
    app.add_route("/health", ok)
    return app


def emf(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


async def call(app: Any, path: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://fn") as client:
        return (await client.get(path, headers=headers)).status_code


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "VERCEL": "1"}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "VERCEL_REGION": "iad1"}, False),
    ],
)
def test_prepare_adds_emf_on_lambda_only(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "VERCEL",
        "VERCEL_REGION",
        "QWEN_SECRETS_ID",
        "QWEN_SSM_PARAMETERS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = prepare(tiny_app())
    assert on_lambda() is expected
    assert any(m.cls is EmfMiddleware for m in app.user_middleware) is expected


async def test_one_line_per_request_and_one_cold_start(capsys: pytest.CaptureFixture[str]) -> None:
    app = EmfMiddleware(tiny_app(), namespace="Test", service="svc")
    assert await call(app, "/ok") == 200
    assert await call(app, "/boom") == 500
    assert await call(app, "/missing") == 404
    lines = emf(capsys.readouterr().out)
    requests = [line for line in lines if "Requests" in line]
    assert [(r["route"], r["status"], r["ServerErrors"]) for r in requests] == [
        ("/ok", 200, [0.0]),
        ("/boom", 500, [1.0]),
        ("unmatched", 404, [0.0]),
    ]
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["route", "service"]] for r in requests)
    assert sum("ColdStart" in line for line in lines) == 1


async def test_web_adapter_probes_are_not_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_EXEC_WRAPPER", "/opt/bootstrap")
    monkeypatch.setenv("AWS_LWA_READINESS_CHECK_PATH", "/health")
    app = EmfMiddleware(tiny_app())
    assert await call(app, "/health") == 200
    assert emf(capsys.readouterr().out) == [], "the adapter's readiness probe"
    assert await call(app, "/health", {"x-amzn-request-context": "{}"}) == 200
    assert [line["route"] for line in emf(capsys.readouterr().out) if "Requests" in line] == ["/ok"]


async def test_missing_powertools_turns_metrics_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = EmfMiddleware(tiny_app())

    def unavailable(*args: Any) -> None:
        raise ImportError("No module named 'aws_lambda_powertools'")

    monkeypatch.setattr(app, "_emit", unavailable)
    assert await call(app, "/ok") == 200
    assert await call(app, "/ok") == 200
    assert app.enabled is False and emf(capsys.readouterr().out) == []
