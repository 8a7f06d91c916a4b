"""The published contract: `/openapi.json` names every route with its schemas, query parameters, headers and
multipart form fields; schemathesis, run against the gateway process with a fixed example budget, finds no
server error and no response outside it; and every parameter it names, path, query or form field, answers
values that once were 500s (`²`, `abc.é`, a NUL, a file where text belongs) with a 4xx in the API's shape."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from qwen_server.app.contract import openapi_document
from qwen_server.app.factory import ALWAYS, ROUTES
from tests.e2e.audio_support import wav_of
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Service]:
    # quotas far above what the fuzzing and the sweep spend, so no route answers 429 for the order they ran in
    emulator = start_emulator("--seed", "11", "--image-quota", "5000", "--video-quota", "5000", accounts=2)
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
    # inputs besides a JSON body: query parameters, the shape-switching header, path parameters, form fields
    listing = {(p["in"], p["name"]): p["schema"] for p in document["paths"]["/v1/files"]["get"]["parameters"]}
    assert listing[("query", "limit")]["type"] == "integer" and ("header", "anthropic-version") in listing
    for path in ("/v1/batches", "/v1/messages/batches", "/v1/videos", "/v1/responses/{response_id}/input_items"):
        assert "limit" in {p["name"] for p in document["paths"][path]["get"]["parameters"]}, path
    blob = document["paths"]["/v1/blobs/{token}"]["get"]["parameters"]
    assert blob == [{"name": "token", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
    upload = document["paths"]["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"]["format"] == "binary"
    assert upload["properties"]["expires_after[seconds]"] == {"type": "integer", "minimum": 3600, "maximum": 2592000}
    videos = document["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert set(videos) == {"application/json", "multipart/form-data"}
    for path in ("/v1/images/edits", "/v1/audio/transcriptions", "/v1/audio/translations"):
        assert "multipart/form-data" in document["paths"][path]["post"]["requestBody"]["content"], path
    links = document["paths"]["/v1/files"]["post"]["responses"]["200"]["links"]
    assert {"operationId": "get_v1_files_{file_id}", "parameters": {"file_id": "$response.body#/id"}} in links.values()
    files_error = document["paths"]["/v1/files"]["get"]["responses"]["default"]["content"]["application/json"]
    assert len(files_error["schema"]["anyOf"]) == 2  # OpenAI's shape, or Anthropic's with anthropic-version


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
            "10",
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


# Values that pass a naive check and then break a conversion: `²` is `str.isdigit()` but not `int()`, `é` after
# a dot was a non-ASCII signature in `hmac.compare_digest`, a NUL and a negative number are their own classics.
HOSTILE = ("²", "abc.é", "-1", "\x00")
AUTH = {"authorization": "Bearer contract-key"}


def _made(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, f"{answer.request.method} {answer.request.url.path}: {answer.text[:300]}"
    return answer.json()


def _real_ids(gateway: Service) -> dict[str, str]:
    """One live object per path parameter, so a hostile query or form value meets the code behind the 404."""
    client = httpx.Client(base_url=gateway.url, headers=AUTH, timeout=60)
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "qwen3-max", '
    line += b'"messages": [{"role": "user", "content": "hi"}]}}\n'
    file_id = _made(client.post("/v1/files", files={"file": ("in.jsonl", line)}, data={"purpose": "batch"}))["id"]
    batch = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    message = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    image = _made(client.post("/v1/images/generations", json={"prompt": "a kite"}))["data"][0]["url"]
    return {
        "file_id": file_id,
        "batch_id": _made(client.post("/v1/batches", json=batch))["id"],
        "message_batch_id": _made(
            client.post(
                "/v1/messages/batches",
                json={"requests": [{"custom_id": "a", "params": message}]},
                headers={"anthropic-version": "2023-06-01"},
            )
        )["id"],
        "response_id": _made(client.post("/v1/responses", json={"model": "qwen3-max", "input": "hi"}))["id"],
        "video_id": _made(client.post("/v1/videos", json={"prompt": "a kite"}))["id"],
        "account_id": _made(client.get("/admin/accounts"))["data"][0]["id"],
        "model_id": "qwen3-max",
        "token": image.rpartition("/")[2],
        "png": image,
    }


def _shape_problem(path: str, answer: httpx.Response) -> str | None:
    """Why the answer is not what bad input must get (a non-5xx; an error in the API's own shape), or None."""
    if answer.status_code >= 500:
        return f"{answer.status_code}: {answer.text[:300]}"
    if answer.status_code < 400:
        return None
    try:
        body = answer.json()
    except ValueError:
        return f"{answer.status_code} without a JSON error body: {answer.text[:200]}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"{answer.status_code} not in an error shape: {answer.text[:200]}"
    if path.startswith("/v1/messages") and body.get("type") != "error":
        return f"{answer.status_code} not in Anthropic's error shape: {answer.text[:200]}"
    return None


def _form_base(path: str, ids: dict[str, str], png: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """(text fields, files) of a form the route would take, for one field at a time to be made hostile."""
    if path == "/v1/files":
        return {"purpose": "batch"}, {"file": ("in.jsonl", b'{"a": 1}\n')}
    if path == "/v1/images/edits":
        return {"prompt": "a door"}, {"image": ("door.png", png, "image/png")}
    if path == "/v1/videos":
        return {"prompt": "a kite"}, {"input_reference": ("kite.png", png, "image/png")}
    return {"model": "whisper-1"}, {"file": ("hello.wav", wav_of("hello"), "audio/wav")}


def test_every_parameter_and_form_field_answers_hostile_values_with_a_4xx(gateway: Service) -> None:
    """Every path parameter, query parameter and form field the contract names, one at a time: each hostile
    value, and for a form field a file sent in its place, gets no 500 and an error in the API's shape."""
    document = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    ids = _real_ids(gateway)
    png = httpx.get(ids["png"], timeout=10).content
    client = httpx.Client(base_url=gateway.url, headers=AUTH, timeout=60)
    problems: list[str] = []
    tried = 0

    def real(path: str, name: str) -> str:
        if name == "batch_id" and path.startswith("/v1/messages/"):
            return ids["message_batch_id"]
        return ids[name]

    def send(method: str, path: str, template: str, **kwargs: Any) -> None:
        nonlocal tried
        tried += 1
        answer = client.request(method, path, **kwargs)
        problem = _shape_problem(template, answer)
        if problem is not None:
            problems.append(f"{method} {path} {kwargs.get('params') or kwargs.get('data') or ''}: {problem}")

    for template, operations in document["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            names = [p["name"] for p in params if p["in"] == "path"]
            for swept in params:
                if swept["in"] not in ("path", "query"):
                    continue
                for value in HOSTILE:
                    filled = {
                        n: value if (swept["in"], n) == ("path", swept["name"]) else real(template, n)
                        for n in names
                    }
                    path = template.format(**{n: quote(v, safe="") for n, v in filled.items()})
                    query = {swept["name"]: value} if swept["in"] == "query" else {}
                    send(method.upper(), path, template, params=query)
            form = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if form is None:
                continue
            for field, schema in form["schema"]["properties"].items():
                if schema.get("format") == "binary":
                    continue
                for hostile in (*HOSTILE, None):  # None: a file sent where the text belongs
                    data, files = _form_base(template, ids, png)
                    data = {k: v for k, v in data.items() if k != field}
                    if hostile is None:
                        files = {**files, field: ("field.txt", b"2", "text/plain")}
                    else:
                        data[field] = hostile
                    send(method.upper(), template, template, data=data, files=files)
    assert tried > 200, tried
    assert not problems, "\n".join(problems)
