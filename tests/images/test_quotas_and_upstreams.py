"""Per-capability quotas on web accounts (Redis store), DashScope's task API with results in S3 (moto), the
OpenAI-compatible pass-through, and `serve`'s own video worker (advancing and expiring jobs nobody polls)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator

import boto3
import httpx
import openai
import pytest

from tests.images.media_helpers import Recording, assert_no_upstream_urls, client_for, png_size, wait_video
from tests.processes import emulator_accounts, start_emulator, start_fake_openai, start_gateway
from tests.services import moto_service, redis_binary, redis_service


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


def test_spent_image_quota_cools_only_images(redis_url: str) -> None:
    emulator = start_emulator(
        "--image-quota", "1", "--video-quota", "1", "--video-seconds", "0.3", accounts=2
    )
    gateway = start_gateway({"STORE_URL": redis_url}, accounts=emulator_accounts(emulator, 2))
    try:
        client = client_for(gateway, "k")
        for prompt in ("first", "second"):  # one per account: the second fails over past the spent one
            answer = client.images.generate(prompt=prompt, response_format="b64_json")
            assert png_size(base64.b64decode(answer.data[0].b64_json or ""))[0] > 0
        with pytest.raises(openai.RateLimitError) as spent:
            client.images.generate(prompt="third")
        assert spent.value.body["code"] == "image_quota_exhausted"  # type: ignore[index]
        assert int(spent.value.response.headers["retry-after"]) > 3600  # the web's `num` hours
        chat = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "still here?"}]
        )
        assert "still here?" in (chat.choices[0].message.content or "")
        first = client.videos.create(prompt="videos have their own quota")
        second = client.videos.create(prompt="and the other account's")
        assert wait_video(client, first.id).status == "completed"
        assert wait_video(client, second.id).status == "completed"
        with pytest.raises(openai.RateLimitError) as no_video:
            client.videos.create(prompt="one too many")
        assert no_video.value.body["code"] == "video_quota_exhausted"  # type: ignore[index]
        accounts = httpx.get(f"{gateway.url}/v1/metrics").json()["accounts"]
        assert [a["state"] for a in accounts] == ["ok", "ok"]  # the pool's health never heard of it
    finally:
        gateway.stop()
        emulator.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, str]]:
    with moto_service() as endpoint:
        bucket = f"media-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield endpoint, bucket


def test_dashscope_images_and_videos_with_an_s3_blob_store(s3: tuple[str, str]) -> None:
    endpoint, bucket = s3
    emulator = start_emulator("--video-seconds", "0.5", accounts=1)
    account = {
        "kind": "dashscope",
        "api_key": "sk-test",
        "base_url": f"{emulator.url}/compatible-mode/v1",
        "name": "ds",
    }
    env = {"BLOB_URL": f"s3://{bucket}/gw", "S3_ENDPOINT_URL": endpoint, "VIDEO_POLL_SECONDS": "0.2"}
    gateway = start_gateway(env, accounts=[account])
    recording = Recording()
    try:
        client = client_for(gateway, "k", recording)
        answer = client.images.generate(model="wanx2.1-t2i-turbo", prompt="a kite", n=2, size="1792x1024")
        for item in answer.data:
            fetched = httpx.get(item.url or "")
            assert fetched.status_code == 200 and png_size(fetched.content) == (96, 54)
        frame = base64.b64decode(
            client.images.generate(prompt="f", response_format="b64_json").data[0].b64_json or ""
        )
        edited = client.images.edit(
            image=("f.png", frame, "image/png"), prompt="brighter", response_format="b64_json"
        )
        assert png_size(base64.b64decode(edited.data[0].b64_json or ""))[0] > 0
        video = client.videos.create(
            model="sora-2-pro", prompt="waves", input_reference=("f.png", frame, "image/png")
        )
        assert wait_video(client, video.id).status == "completed"
        assert client.videos.download_content(video.id).content[4:8] == b"ftyp"
        keys = [
            o["Key"]
            for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)["Contents"]
        ]
        assert sum(k.startswith("gw/images/") for k in keys) == 2 and any(
            k.startswith("gw/videos/") for k in keys
        )
        turns = httpx.get(f"{emulator.url}/_emulator/media").json()["turns"]
        assert turns["dashscope:text2image"] == 3 and turns["dashscope:image2image"] == 1
        assert turns["dashscope:i2v"] == 1
        client.videos.delete(video.id)
        keys = [
            o["Key"]
            for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)["Contents"]
        ]
        assert not any(k.startswith("gw/videos/") for k in keys)
        assert_no_upstream_urls(recording, emulator)
    finally:
        gateway.stop()
        emulator.stop()


def test_openai_compatible_accounts_pass_images_through() -> None:
    fake = start_fake_openai("--api-key", "sk-upstream")
    account = {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key": "sk-upstream", "name": "compat"}
    gateway = start_gateway({}, accounts=[account])
    try:
        client = client_for(gateway, "k")
        answer = client.images.generate(model="gpt-image-1", prompt="x", n=2, response_format="b64_json")
        assert [png_size(base64.b64decode(d.b64_json or "")) for d in answer.data] == [(40, 30), (40, 30)]
        png = base64.b64decode(answer.data[0].b64_json or "")
        edited = client.images.edit(image=("x.png", png, "image/png"), prompt="y")
        assert png_size(httpx.get(edited.data[0].url or "").content) == (40, 30)
        stats = httpx.get(f"{fake.url}/_fake/stats").json()
        assert stats["/v1/images/generations"] == 2 and stats["/v1/images/edits"] == 1
        with pytest.raises(openai.NotFoundError):  # no video flow on this kind
            client.videos.create(prompt="z")
    finally:
        gateway.stop()
        fake.stop()


def test_serve_worker_advances_and_expires_videos_nobody_polls(redis_url: str) -> None:
    emulator = start_emulator("--video-seconds", "0.3", accounts=1)
    env = {
        "STORE_URL": redis_url,
        "VIDEO_TICK_SECONDS": "0.2",
        "VIDEO_POLL_SECONDS": "0.1",
        "VIDEO_KEEP_SECONDS": "5",  # long enough for the test to see it completed, however busy the machine
    }
    gateway = start_gateway(env, accounts=emulator_accounts(emulator, 1))
    try:
        client = client_for(gateway, "worker-tenant")
        video = client.videos.create(prompt="left alone")
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # listing never polls the upstream: only the worker moves the job
            listed = {v.id: v.status for v in client.videos.list(limit=100)}
            if video.id not in listed:
                break
            if not seen or seen[-1] != listed[video.id]:
                seen.append(listed[video.id])
            time.sleep(0.05)
        assert "completed" in seen and video.id not in {v.id for v in client.videos.list(limit=100)}
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(video.id)
    finally:
        gateway.stop()
        emulator.stop()
