"""Every error case answers in OpenAI's error shape with the right status, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway


def _post(gateway: Service, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )


def _assert_openai_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_malformed_json_is_400(gateway: Service) -> None:
    error = _assert_openai_error(_post(gateway, '{"model": "qwen3-max", "messages": ['), 400)
    assert "JSON" in str(error["message"])
    _assert_openai_error(_post(gateway, "[1, 2]"), 400)
    _assert_openai_error(_post(gateway, ""), 400)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"messages": [{"role": "user", "content": "x"}]}', "model"),
        ('{"model": "qwen3-max"}', "messages"),
        ('{"model": "qwen3-max", "messages": []}', "messages"),
        (
            '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "temperature": 7}',
            "temperature",
        ),
        ('{"model": "qwen3-max", "messages": [{"role": "wizard", "content": "x"}]}', "messages.0.role"),
        (
            '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
            "max_tokens",
        ),
        ('{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "n": 2}', "n"),
        (
            '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}',
            "stop",
        ),
        (
            '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}',
            "tool_choice",
        ),
    ],
)
def test_invalid_fields_are_400_naming_the_param(gateway: Service, body: str, param: str) -> None:
    error = _assert_openai_error(_post(gateway, body), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert "no-such-model" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_unknown_path_and_method(gateway: Service) -> None:
    _assert_openai_error(httpx.get(f"{gateway.url}/v1/nothing-here", timeout=30), 404)
    _assert_openai_error(httpx.get(f"{gateway.url}/v1/chat/completions", timeout=30), 405)


def test_oversized_body_is_413() -> None:
    gateway = start_gateway({"MAX_REQUEST_BYTES": "1000"}, accounts=[])
    try:
        body = '{"model": "qwen3-max", "messages": [{"role": "user", "content": "' + "x" * 2000 + '"}]}'
        _assert_openai_error(_post(gateway, body), 413)
    finally:
        gateway.stop()


def test_no_accounts_is_503_with_instructions() -> None:
    gateway = start_gateway(accounts=[])
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 503
        assert "QWEN_ACCOUNTS" in info.value.message
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def failing_upstream() -> Iterator[Service]:
    emulator = start_emulator("--fail-500", "1.0", accounts=2)
    yield emulator
    emulator.stop()


def test_upstream_failure_is_502_after_trying_every_account(failing_upstream: Service) -> None:
    gateway = start_gateway(accounts=emulator_accounts(failing_upstream, 2))
    try:
        response = _post(gateway, '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}]}')
        error = _assert_openai_error(response, 502)
        assert error["type"] == "upstream_error"
        assert response.headers.get("x-should-retry") == "false"
        stats = httpx.get(f"{failing_upstream.url}/_emulator/stats", timeout=30).json()
        tried = [email for email, s in stats["accounts"].items() if s["completions"] > 0]
        assert len(tried) == 2, "the gateway fails over to the second account before giving up"
    finally:
        gateway.stop()


def test_unreachable_upstream_is_502() -> None:
    dead = [{"email": "a@b.c", "password": "p", "base_url": "http://127.0.0.1:9"}]
    gateway = start_gateway(accounts=dead)
    try:
        error = _assert_openai_error(
            _post(gateway, '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}]}'), 502
        )
        assert "connect" in str(error["message"])
    finally:
        gateway.stop()


def test_upstream_timeout_is_504() -> None:
    emulator = start_emulator("--hang", "1.0", accounts=1)
    gateway = start_gateway({"UPSTREAM_FIRST_BYTE_TIMEOUT": "1"}, accounts=emulator_accounts(emulator, 1))
    try:
        response = _post(gateway, '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}]}')
        error = _assert_openai_error(response, 504)
        assert error["type"] == "timeout_error"
    finally:
        gateway.stop()
        emulator.stop()


def test_gateway_keys_are_enforced(emulator: Service) -> None:
    gateway = start_gateway({"GATEWAY_API_KEYS": "k-one, k-two"}, accounts=emulator_accounts(emulator, 1))
    try:
        body = '{"model": "qwen3-max", "messages": [{"role": "user", "content": "secret door"}]}'
        error = _assert_openai_error(_post(gateway, body), 401)
        assert error["type"] == "authentication_error"
        _assert_openai_error(_post(gateway, body, {"authorization": "Bearer wrong"}), 401)
        _assert_openai_error(httpx.get(f"{gateway.url}/v1/models", timeout=30), 401)
        assert httpx.get(f"{gateway.url}/health", timeout=30).status_code == 200
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k-two", max_retries=0)
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "secret door"}]
        )
        assert reply.choices[0].message.content == "secret door"
        ok = _post(gateway, body, {"x-api-key": "k-one"})
        assert ok.status_code == 200
    finally:
        gateway.stop()


def test_any_key_is_accepted_when_no_keys_are_configured(gateway: Service) -> None:
    assert "GATEWAY_API_KEYS is not set" in gateway.log()
    response = _post(
        gateway,
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}]}',
        {"authorization": "Bearer whatever"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"model": 5, "messages": "x"}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
        '{"model": "qwen3-max", "messages": [null]}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "stream": "yes please"}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function"}}',
        '{"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "stream_options": 3}',
    ],
)
def test_odd_bodies_are_4xx_never_500(gateway: Service, body: str) -> None:
    response = _post(gateway, body)
    assert 400 <= response.status_code < 500, response.text
    _assert_openai_error(response, response.status_code)


@pytest.mark.parametrize(
    "store_url",
    [
        "redis://:hunter2secret@127.0.0.1:1/0",
        "bogus://x",
        "dynamodb://missing-table?region=us-east-1&endpoint_url=http://127.0.0.1:1",
    ],
)
def test_an_unusable_store_is_a_clear_start_up_error(store_url: str) -> None:
    with pytest.raises(RuntimeError) as info:
        start_gateway({"STORE_URL": store_url}, accounts=[])
    message = str(info.value)
    assert "STORE_URL" in message
    assert "hunter2secret" not in message
    assert "Traceback" not in message
