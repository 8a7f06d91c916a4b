"""The images function's Lambda handler, in a Lambda-like process against the emulator: HTTP API events for
images and videos, and the EventBridge schedule's event running the video worker (a job nobody polls ends up
completed), while the cron route stays closed to the outside."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverless_support import body_json, http_api_event, invoke, lambda_env, require_group

from processes import Service, emulator_accounts, start_emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--video-seconds", "0", accounts=1)
    yield service
    service.stop()


def test_images_videos_and_the_schedule(emulator: Service, tmp_path: Path) -> None:
    require_group("images")
    env = lambda_env(
        "qwen-images",
        STORE_URL="memory://",
        BLOB_URL=f"file://{tmp_path / 'blobs'}",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
        VIDEO_POLL_SECONDS="0.001",
    )
    json_headers = {"content-type": "application/json"}
    image = json.dumps({"prompt": "a fox", "size": "1024x1792", "response_format": "b64_json"})
    video = json.dumps({"prompt": "a fox running", "model": "sora-2"})
    events = [
        http_api_event("POST", "/v1/images/generations", body=image, headers=json_headers),
        http_api_event("POST", "/v1/videos", body=video, headers=json_headers),
        {"qwen_task": "videos"},  # the ScheduleV2 input of template.yaml
        http_api_event("GET", "/v1/videos"),
        http_api_event("POST", "/internal/cron/videos", headers={"x-qwen-internal-schedule": "guess"}),
    ]
    generated, created, scheduled, listed, outside = invoke("images", events, env)["responses"]
    assert generated["statusCode"] == 200, generated
    png = base64.b64decode(body_json(generated)["data"][0]["b64_json"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (54, 96)
    assert created["statusCode"] == 200 and body_json(created)["status"] == "queued"
    assert scheduled["statusCode"] == 200 and body_json(scheduled)["completed"] == 1
    videos = body_json(listed)["data"]
    assert [(v["id"], v["status"]) for v in videos] == [(body_json(created)["id"], "completed")]
    assert outside["statusCode"] == 403 and body_json(outside)["error"]["code"] == "cron_disabled"
