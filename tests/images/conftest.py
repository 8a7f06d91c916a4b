"""Fixtures for the images group: the emulator and the gateway as processes, clients per gateway key, and a
recording transport that keeps every response body the clients saw (to prove no upstream URL reaches them)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from processes import Service, emulator_accounts, start_emulator, start_gateway

KEYS = ("key-alice", "key-bob")


class Recording(httpx.HTTPTransport):
    """An HTTP transport that keeps a copy of every response body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        body = response.read()
        self.bodies.append(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


def client_for(gateway: Service, key: str, recording: Recording | None = None) -> openai.OpenAI:
    http = httpx.Client(transport=recording) if recording is not None else None
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, http_client=http)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def wait_video(client: openai.OpenAI, video_id: str, rounds: int = 200) -> Any:
    """Poll until the video ends (a bounded number of polls, no timing assertion)."""
    video = client.videos.retrieve(video_id)
    for _ in range(rounds):
        if video.status in ("completed", "failed"):
            return video
        time.sleep(0.1)
        video = client.videos.retrieve(video_id)
    raise AssertionError(f"video {video_id} still {video.status} after {rounds} polls")


def assert_no_upstream_urls(recording: Recording, emulator: Service) -> None:
    """No body a client received names the emulator's host, its CDN paths, a `key=` or a task id."""
    assert recording.bodies, "nothing was recorded"
    port = f":{emulator.port}".encode()
    for body in recording.bodies:
        assert port not in body
        assert b"/output/" not in body and b"key=" not in body and b"task_id" not in body
        assert b"password" not in body and b"token=" not in body


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "11", "--video-seconds", "0.5", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(emulator: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    store = tmp_path_factory.mktemp("store") / "state.db"
    env = {
        "GATEWAY_API_KEYS": ",".join(KEYS),
        "STORE_URL": f"sqlite:///{store}",
        "VIDEO_POLL_SECONDS": "0.2",
        "CRON_SECRET": "cron-secret",
        "VIDEO_TICK_SECONDS": "3600",
    }
    service = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def recording() -> Recording:
    return Recording()


@pytest.fixture
def alice(gateway: Service, recording: Recording) -> openai.OpenAI:
    return client_for(gateway, KEYS[0], recording)


@pytest.fixture
def bob(gateway: Service, recording: Recording) -> openai.OpenAI:
    return client_for(gateway, KEYS[1], recording)
