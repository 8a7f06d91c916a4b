"""API keys with bytes outside ASCII, sent raw over HTTP (the SDKs refuse to send them): 401, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.processes import Service, emulator_accounts, start_gateway

CHAT = b'{"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}'
MESSAGES = b'{"model": "claude-sonnet-4", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def keyed_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway(
        {"GATEWAY_API_KEYS": "sk-good,clé-secrète"}, accounts=emulator_accounts(emulator, 1)
    )
    yield service
    service.stop()


def _post(gateway: Service, path: str, body: bytes, header: tuple[bytes, bytes]) -> httpx.Response:
    # httpx sends header values given as bytes unchanged, as a misconfigured client would
    headers = [(b"content-type", b"application/json"), (b"anthropic-version", b"2023-06-01"), header]
    return httpx.post(f"{gateway.url}{path}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    "header",
    [
        (b"authorization", "Bearer sk-gööd".encode()),
        (b"authorization", "Bearer sk-g\xf6\xf6d".encode("latin-1")),
        (b"x-api-key", "ключ".encode()),
    ],
    ids=["bearer-utf8", "bearer-latin1", "x-api-key-utf8"],
)
def test_a_non_ascii_key_is_refused_with_401(keyed_gateway: Service, header: tuple[bytes, bytes]) -> None:
    chat = _post(keyed_gateway, "/v1/chat/completions", CHAT, header)
    assert chat.status_code == 401, chat.text
    assert chat.json()["error"]["type"] == "authentication_error"
    assert chat.headers["x-request-id"]
    messages = _post(keyed_gateway, "/v1/messages", MESSAGES, header)
    assert messages.status_code == 401, messages.text
    assert messages.json()["error"]["type"] == "authentication_error"


def test_a_configured_non_ascii_key_sent_as_utf8_is_accepted(keyed_gateway: Service) -> None:
    response = _post(keyed_gateway, "/v1/chat/completions", CHAT, (b"x-api-key", "clé-secrète".encode()))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hi"
