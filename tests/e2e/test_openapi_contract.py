"""The published contract: `/openapi.json` names every route with its schemas, and schemathesis, run against
the gateway process with a fixed example budget, finds no server error and no response outside it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qwen_server.app.contract import openapi_document
from qwen_server.app.factory import ALWAYS, ROUTES
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Service]:
    emulator = start_emulator("--seed", "11", accounts=2)
    service = start_gateway(
        {"GATEWAY_API_KEYS": "contract-key", "ADMIN_API_KEYS": "contract-key", "API_DOCS": "true"},
        accounts=emulator_accounts(emulator, 2),
    )
    yield service
    service.stop()
    emulator.stop()


def test_every_route_of_the_table_is_published_with_its_schemas(gateway: Service) -> None:
    document = httpx.get(f"{gateway.url}/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    published = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    table = [*ALWAYS, *(route for group in ROUTES.values() for route in group)]
    served = {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)) for m, p, _ in table}
    assert served <= published
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionRequest"
    }
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    messages_error = document["paths"]["/v1/messages"]["post"]["responses"]["default"]
    assert messages_error["content"]["application/json"]["schema"]["$ref"].endswith("/AnthropicError")
    schemas = document["components"]["schemas"]
    assert {"ChatCompletion", "Message", "MessagesRequest", "OpenAIError", "AnthropicError"} <= set(schemas)


def test_a_route_without_declared_models_still_appears() -> None:
    document = openapi_document([("POST", "/v1/brand_new"), ("GET", "/v1/things/{thing_id:path}")], "t", "0")
    new = document["paths"]["/v1/brand_new"]["post"]
    assert new["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert new["responses"]["default"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OpenAIError"
    )
    thing = document["paths"]["/v1/things/{thing_id}"]["get"]
    assert thing["parameters"][0]["name"] == "thing_id"


def test_the_docs_page_is_a_setting(gateway: Service) -> None:
    page = httpx.get(f"{gateway.url}/docs", timeout=30)
    assert page.status_code == 200 and "swagger" in page.text.lower() and "/openapi.json" in page.text
    plain = start_gateway(accounts=[])
    try:
        off = httpx.get(f"{plain.url}/docs", timeout=30)
        assert off.status_code == 404 and "API_DOCS" in off.json()["error"]["message"]
    finally:
        plain.stop()


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(
    gateway: Service, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{gateway.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--generation-deterministic",
            "--no-shrink",
            # one worker: hypothesis describes strategies with `ast`, which CPython 3.11 cannot run in two
            # threads at once (a SystemError, "AST constructor recursion depth mismatch")
            "--workers",
            "1",
            "--header",
            "Authorization: Bearer contract-key",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    tally = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert done.returncode == 0 and tally is not None, done.stdout[-6000:] + done.stderr[-2000:]
    assert int(tally.group(1)) == int(tally.group(2)) > 500, tally.group(0)
    summary = done.stdout.split("SUMMARY")[-1]
    # warnings (routes whose ids fuzzing cannot guess, a cron route refusing without its secret) are fine;
    # a failed check is reported as "N failed" in the tally or a "Failures" section
    assert not re.search(r"\d+ failed|Failures", summary), done.stdout[-3000:]
