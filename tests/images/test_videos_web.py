"""OpenAI's Videos API on web accounts through the openai SDK: the whole lifecycle, image-to-video, failures,
pagination, tenant isolation, the cron route, and no upstream URL or key in anything a client received."""

from __future__ import annotations

import base64
import hashlib

import httpx
import openai
import pytest

from tests.images.media_helpers import KEYS, Recording, assert_no_upstream_urls, wait_video
from tests.processes import Service


def test_lifecycle_create_poll_content_list_delete(alice: openai.OpenAI) -> None:
    created = alice.videos.create(
        model="sora-2", prompt="a sailing boat at dawn", size="1280x720", seconds="8"
    )
    assert created.id.startswith("video_") and created.object == "video"
    assert created.status == "queued" and created.progress == 0 and created.completed_at is None
    assert (created.model, created.size, created.seconds) == ("sora-2", "1280x720", "8")
    done = wait_video(alice, created.id)
    assert done.status == "completed" and done.progress == 100
    assert (
        done.completed_at is not None and done.expires_at is not None and done.expires_at > done.completed_at
    )
    content = alice.videos.download_content(created.id)
    assert content.response.headers["content-type"] == "video/mp4"
    data = content.content
    assert data[4:8] == b"ftyp" and b"moov" in data and b"mdat" in data
    assert created.id in [v.id for v in alice.videos.list(limit=100)]
    deleted = alice.videos.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        alice.videos.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        alice.videos.download_content(created.id)


def test_image_to_video_and_content_before_completion(alice: openai.OpenAI, emulator: Service) -> None:
    frame = base64.b64decode(
        alice.images.generate(prompt="a frame", response_format="b64_json").data[0].b64_json or ""
    )
    before = httpx.get(f"{emulator.url}/_emulator/media").json()["turns"].get("i2v", 0)
    created = alice.videos.create(
        model="wan2.2-t2v-plus", prompt="make it move", input_reference=("frame.png", frame, "image/png")
    )
    assert created.size == "720x1280"  # OpenAI's default size
    with pytest.raises(openai.BadRequestError) as early:
        alice.videos.download_content(created.id)
    assert early.value.body["code"] == "video_not_ready"  # type: ignore[index]
    assert wait_video(alice, created.id).status == "completed"
    assert httpx.get(f"{emulator.url}/_emulator/media").json()["turns"]["i2v"] == before + 1
    uploads = httpx.get(f"{emulator.url}/_emulator/files").json()["files"]
    assert hashlib.sha256(frame).hexdigest() in {f["sha256"] for f in uploads}  # the frame went up first
    assert alice.videos.download_content(created.id).content[4:8] == b"ftyp"


def test_a_failed_upstream_task_is_a_failed_video(alice: openai.OpenAI) -> None:
    created = alice.videos.create(model="wanx2.1-t2v-turbo", prompt="[[video:fail]] a storm")
    failed = wait_video(alice, created.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "video_generation_failed"
    with pytest.raises(openai.BadRequestError):
        alice.videos.download_content(created.id)


def test_listing_pages_and_tenants_never_see_each_other(alice: openai.OpenAI, bob: openai.OpenAI) -> None:
    mine = [alice.videos.create(prompt=f"clip {i}").id for i in range(3)]
    theirs = bob.videos.create(prompt="bob's clip").id
    first = alice.videos.list(limit=2, order="asc")
    listed = [v.id for v in first.data]
    assert len(listed) == 2 and first.has_more
    every = [v.id for v in alice.videos.list(limit=100, order="asc")]
    assert every[-3:] == mine and theirs not in every
    assert [v.id for v in alice.videos.list(after=listed[-1], limit=100, order="asc")] == every[2:]
    assert [v.id for v in bob.videos.list(limit=100)] == [theirs]
    for action in (bob.videos.retrieve, bob.videos.delete, bob.videos.download_content):
        with pytest.raises(openai.NotFoundError):
            action(mine[0])
    assert alice.videos.retrieve(mine[0]).id == mine[0]  # still there for its owner


def test_bad_video_requests(alice: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        alice.videos.create(model="no-such-camera", prompt="x")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as size:
        alice.videos.create(prompt="x", size="enormous")  # type: ignore[arg-type]
    assert size.value.body["param"] == "size"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        alice.videos.retrieve("video_doesnotexist")
    with pytest.raises(openai.BadRequestError):
        alice.videos.create(prompt="x", input_reference=("a.txt", b"not an image", "text/plain"))


def test_cron_route_advances_jobs_nobody_polls(gateway: Service, alice: openai.OpenAI) -> None:
    created = alice.videos.create(prompt="advanced by the worker")
    assert httpx.get(f"{gateway.url}/internal/cron/videos").status_code == 401
    wrong = httpx.get(f"{gateway.url}/internal/cron/videos", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "error" in wrong.json()
    status = "queued"
    for _ in range(200):
        tick = httpx.get(
            f"{gateway.url}/internal/cron/videos", headers={"authorization": "Bearer cron-secret"}
        )
        assert tick.status_code == 200 and tick.json()["skipped"] == 0
        status = {v.id: v for v in alice.videos.list(limit=100)}[created.id].status  # listing never polls
        if status == "completed":
            break
    assert status == "completed"
    assert alice.videos.download_content(created.id).content[4:8] == b"ftyp"


def test_no_client_ever_saw_an_upstream_url_or_key(recording: Recording, emulator: Service) -> None:
    """Runs after the other tests of the module: every body its clients received."""
    assert len(recording.bodies) > 20
    assert_no_upstream_urls(recording, emulator)


def test_cron_route_is_closed_without_its_secret(emulator: Service) -> None:
    from tests.processes import emulator_accounts, start_gateway

    gateway = start_gateway({"GATEWAY_API_KEYS": KEYS[0]}, accounts=emulator_accounts(emulator, 1))
    try:
        answer = httpx.post(
            f"{gateway.url}/internal/cron/videos", headers={"authorization": "Bearer anything"}
        )
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "cron_disabled"
    finally:
        gateway.stop()
