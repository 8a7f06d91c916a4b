"""The images function's Lambda handler, in a Lambda-like process against the emulator: HTTP API events for
images and videos, and the EventBridge schedule's event running the video worker (a job nobody polls ends up
completed), while the cron route stays closed to the outside."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.processes import Service, emulator_accounts, start_emulator
from tests.serverless.serverless_support import (
    FAKE_AWS,
    REGION,
    body_json,
    http_api_event,
    invoke,
    lambda_env,
    require_group,
    start_moto,
    stop,
)

CREDENTIALS = {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}


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
        VIDEO_POLL_SECONDS="0.000001",  # any later pass polls again
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


def test_deployed_shape_dynamodb_store_and_s3_results(emulator: Service) -> None:
    """As template.yaml configures it: state in the pk/sk table, results in the media bucket (moto)."""
    require_group("images")
    endpoint, moto = start_moto()
    try:
        aws = {
            "endpoint_url": endpoint,
            "region_name": REGION,
            **{arg: FAKE_AWS[var] for arg, var in CREDENTIALS.items()},
        }
        boto3.client("s3", **aws).create_bucket(Bucket="qwen-media")
        dynamodb = boto3.client("dynamodb", **aws)
        dynamodb.create_table(
            TableName="qwen-state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        env = lambda_env(
            "qwen-images",
            STORE_URL=f"dynamodb://qwen-state?region={REGION}",
            BLOB_URL="s3://qwen-media/blobs",
            S3_ENDPOINT_URL=endpoint,
            AWS_ENDPOINT_URL=endpoint,
            QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
            VIDEO_POLL_SECONDS="0.000001",  # any later pass polls again
            PUBLIC_BASE_URL="https://media.example.com",
        )
        json_headers = {"content-type": "application/json"}
        image = json.dumps({"prompt": "a heron", "size": "4:3"})
        first = invoke(
            "images",
            [
                http_api_event("POST", "/v1/images/generations", body=image, headers=json_headers),
                http_api_event(
                    "POST", "/v1/videos", body=json.dumps({"prompt": "a heron flying"}), headers=json_headers
                ),
                {"qwen_task": "videos"},
            ],
            env,
        )["responses"]
        generated, created, scheduled = first
        link = body_json(generated)["data"][0]["url"]
        assert link.startswith("https://media.example.com/v1/blobs/")
        video_id = body_json(created)["id"]
        assert body_json(scheduled)["completed"] == 1, body_json(scheduled)
        path = link.removeprefix("https://media.example.com")
        blob, content = invoke(  # a new process (another cold start): everything came from the store and S3
            "images",
            [
                http_api_event("GET", path, "/v1/blobs/{token}"),
                http_api_event("GET", f"/v1/videos/{video_id}/content", "/v1/videos/{video_id}/content"),
            ],
            env,
        )["responses"]
        keys = [o["Key"] for o in boto3.client("s3", **aws).list_objects_v2(Bucket="qwen-media")["Contents"]]
    finally:
        stop(moto)
    png = base64.b64decode(blob["body"]) if blob.get("isBase64Encoded") else blob["body"].encode()
    assert blob["statusCode"] == 200 and struct.unpack(">II", png[16:24]) == (80, 60)
    assert content["statusCode"] == 200 and content["headers"]["content-type"] == "video/mp4"
    assert base64.b64decode(content["body"])[4:8] == b"ftyp"
    assert any(k.startswith("blobs/images/") for k in keys) and any(
        k.startswith("blobs/videos/") for k in keys
    )
