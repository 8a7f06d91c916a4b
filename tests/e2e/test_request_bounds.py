"""Request bodies are bounded before they are read: a declared size over MAX_REQUEST_BYTES is refused before
a byte of it is read, and an undeclared (chunked) one as soon as it passes the limit."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

LIMIT = 4096


@pytest.fixture(scope="module")
def gateway() -> Iterator[Service]:
    emulator = start_emulator(accounts=1)
    service = start_gateway({"MAX_REQUEST_BYTES": str(LIMIT)}, accounts=emulator_accounts(emulator, 1))
    yield service
    service.stop()
    emulator.stop()


def raw_request(gateway: Service, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_a_declared_size_over_the_limit_is_refused_before_reading(gateway: Service) -> None:
    # 5 GB announced, none sent: the answer cannot wait for the body
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000000\r\n\r\n"
    )
    answer = raw_request(gateway, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"request_too_large"' in answer
    assert b"x-request-id" in answer.lower()


def test_a_chunked_body_is_cut_at_the_limit(gateway: Service) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"model": "qwen3-max", "messages": [{"role": "user", "content": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}]}'

    response = httpx.post(f"{gateway.url}/v1/chat/completions", content=body(), timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    anthropic = httpx.post(f"{gateway.url}/v1/messages", content=body(), timeout=30)
    assert anthropic.status_code == 413
    assert anthropic.json()["error"]["type"] == "request_too_large"


def test_a_body_within_the_limit_is_served(gateway: Service) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "qwen3-max", "messages": [{"role": "user", "content": "small"}]},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "small"


def test_a_malformed_content_length_is_a_400(gateway: Service) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: lots\r\n\r\n"
    answer = raw_request(gateway, head)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
