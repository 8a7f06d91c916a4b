"""Helpers of the images group's tests: clients per gateway key, a recording transport that keeps every response
body the clients saw (to prove no upstream URL reaches them), PNG sizes and video polling."""

from __future__ import annotations

import struct
import time
from typing import Any

import httpx
import openai

from tests.processes import Service

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
