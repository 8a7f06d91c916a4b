"""Links the gateway writes keep the REST API's stage: behind API Gateway (stage `prod`) a function sees
`/v1/...` while clients call `/prod/v1/...`, so an image `url` or an Anthropic `results_url` built from the
path the function saw would point outside the stage (403). Driven with REST API (payload 1.0) events as API
Gateway sends them, through the images and batches functions' Lambda handlers in a Lambda-like process."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import Service, emulator_accounts, start_emulator
from tests.serverless.serverless_support import body_json, invoke, lambda_env, require_group, rest_api_event

HOST = "https://abc123.execute-api.us-east-1.amazonaws.com"
JSON = {"content-type": "application/json"}
ANTHROPIC = {"anthropic-version": "2023-06-01", "content-type": "application/json", "x-api-key": "k"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "5", accounts=1)
    yield service
    service.stop()


def _env(emulator: Service, data: Path, **extra: str) -> dict[str, str]:
    return lambda_env(
        "qwen-stage",
        STORE_URL=f"sqlite:///{data / 'state.db'}",
        DATA_DIR=str(data),
        BLOB_URL=f"file://{data / 'blobs'}",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
        **extra,
    )


def _bytes(response: dict[str, object]) -> bytes:
    body = str(response.get("body") or "")
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def test_image_links_carry_the_stage_and_serve_through_it(emulator: Service, tmp_path: Path) -> None:
    require_group("images")
    env = _env(emulator, tmp_path)
    generate = json.dumps({"prompt": "a lighthouse", "size": "1024x1024", "response_format": "url"})
    (generated,) = invoke(
        "images", [rest_api_event("POST", "/v1/images/generations", body=generate, headers=JSON)], env
    )["responses"]
    assert generated["statusCode"] == 200, generated
    link = body_json(generated)["data"][0]["url"]
    assert link.startswith(f"{HOST}/prod/v1/blobs/"), link

    # the client follows the link: API Gateway strips the stage again before the function sees the path
    token = link.removeprefix(f"{HOST}/prod/v1/blobs/")
    (blob,) = invoke("images", [rest_api_event("GET", f"/v1/blobs/{token}", "/v1/blobs/{token}")], env)[
        "responses"
    ]
    png = _bytes(blob)
    assert blob["statusCode"] == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"

    # an upload of a binary media type arrives base64-encoded; its answer links into the stage too
    edit = httpx.Request(
        "POST",
        f"{HOST}/prod/v1/images/edits",
        data={"prompt": "add a moon", "response_format": "url"},
        files={"image": ("in.png", png, "image/png")},
    )
    (edited,) = invoke(
        "images",
        [
            rest_api_event(
                "POST",
                "/v1/images/edits",
                body=edit.read(),
                headers={"content-type": edit.headers["content-type"]},
                binary=True,
            )
        ],
        env,
    )["responses"]
    assert edited["statusCode"] == 200, edited
    assert body_json(edited)["data"][0]["url"].startswith(f"{HOST}/prod/v1/blobs/")


def test_public_base_url_wins_over_the_event(emulator: Service, tmp_path: Path) -> None:
    require_group("images")
    env = _env(emulator, tmp_path, PUBLIC_BASE_URL="https://api.example.com/")
    body = json.dumps({"prompt": "a kite", "size": "1024x1024", "response_format": "url"})
    (generated,) = invoke(
        "images", [rest_api_event("POST", "/v1/images/generations", body=body, headers=JSON)], env
    )["responses"]
    assert body_json(generated)["data"][0]["url"].startswith("https://api.example.com/v1/blobs/")


def test_anthropic_results_url_carries_the_stage(emulator: Service, tmp_path: Path) -> None:
    env = _env(emulator, tmp_path)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    body = json.dumps({"requests": [{"custom_id": "a", "params": params}]})
    (created,) = invoke(
        "batches", [rest_api_event("POST", "/v1/messages/batches", body=body, headers=ANTHROPIC)], env
    )["responses"]
    assert created["statusCode"] == 200, created
    batch_id = body_json(created)["id"]
    path = f"/v1/messages/batches/{batch_id}"
    tick, retrieved, results = invoke(
        "batches",
        [
            {"batches_tick": True},
            rest_api_event("GET", path, "/v1/messages/batches/{batch_id}", headers=ANTHROPIC),
            rest_api_event("GET", f"{path}/results", "/v1/messages/batches/{batch_id}/results", headers=ANTHROPIC),
        ],
        env,
    )["responses"]
    assert tick["batches_tick"]["finalized"] == 1, tick
    ended = body_json(retrieved)
    assert ended["processing_status"] == "ended"
    assert ended["results_url"] == f"{HOST}/prod{path}/results"
    assert [json.loads(x)["custom_id"] for x in _bytes(results).splitlines()] == ["a"]
