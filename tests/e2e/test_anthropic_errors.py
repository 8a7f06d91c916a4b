"""Errors on /v1/messages answer in Anthropic's shape, with Anthropic's statuses, through the SDK and raw."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.anthropic_grammar import check_stream
from tests.processes import Service, directive, emulator_accounts, start_gateway
from tests.waiting import eventually

MODEL = "claude-opus-4-1"


def post(gateway: Service, body: Any, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    return httpx.post(
        f"{gateway.url}{path}",
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01", **headers},
        timeout=60,
        **kwargs,
    )


def error_of(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind
    assert body["error"]["message"]
    return str(body["error"]["message"])


def request(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "x"}], **fields}


@pytest.fixture
def client(gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="any-key", max_retries=0)


def test_missing_max_tokens_is_a_bad_request_through_the_sdk(client: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.post("/v1/messages", cast_to=anthropic.types.Message, body=body)
    assert info.value.status_code == 400
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in info.value.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"model": "claude-opus-4-1", "messages": [', "JSON"),
        (request(max_tokens=0), "max_tokens"),
        (request(temperature=2), "temperature"),
        (request(messages=[]), "messages"),
        (request(thinking={"type": "enabled", "budget_tokens": 10}), "budget_tokens"),
        (request(messages=[{"role": "user", "content": [{"type": "hologram"}]}]), "'hologram'"),
        (
            request(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {"type": "base64", "media_type": "application/pdf", "data": "%%%"},
                            }
                        ],
                    }
                ]
            ),
            "base64",
        ),
        (
            request(tools=[{"type": "code_execution_20250522", "name": "code_execution"}]),
            "code_execution_20250522",
        ),
        (request(tool_choice={"type": "tool", "name": "missing"}), "missing"),
    ],
)
def test_invalid_requests_are_400_invalid_request_error(gateway: Service, body: Any, needle: str) -> None:
    assert needle in error_of(post(gateway, body), 400, "invalid_request_error")


def test_count_tokens_validates_the_same_way(gateway: Service) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}
    error_of(post(gateway, body, "/v1/messages/count_tokens"), 400, "invalid_request_error")
    error_of(post(gateway, {"model": MODEL}, "/v1/messages/count_tokens"), 400, "invalid_request_error")
    error_of(
        post(
            gateway,
            {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
            "/v1/messages/count_tokens",
        ),
        404,
        "not_found_error",
    )


def test_unknown_model_is_404_not_found_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(
            model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "no-such-model" in info.value.message
    assert info.value.request_id is not None and info.value.request_id.startswith("req_")


def test_unknown_path_under_messages_is_anthropic_shaped(gateway: Service) -> None:
    error_of(post(gateway, request(), "/v1/messages/nope/at/all"), 404, "not_found_error")


@pytest.fixture(scope="module")
def keyed_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway({"GATEWAY_API_KEYS": "sk-good,sk-other"}, accounts=emulator_accounts(emulator, 1))
    yield service
    service.stop()


def test_bad_key_is_401_authentication_error(keyed_gateway: Service) -> None:
    bad = anthropic.Anthropic(base_url=keyed_gateway.url, api_key="sk-bad", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x"}])
    error_of(post(keyed_gateway, request()), 401, "authentication_error")

    good = anthropic.Anthropic(base_url=keyed_gateway.url, api_key="sk-good", max_retries=0)
    reply = good.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "let in"}])
    assert reply.content[0].text == "let in"  # type: ignore[union-attr]
    bearer = anthropic.Anthropic(base_url=keyed_gateway.url, auth_token="sk-other", max_retries=0)
    assert (
        bearer.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x"}]).input_tokens
        > 0
    )


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_before_the_first_byte_is_an_anthropic_error(gateway: Service, stream: bool) -> None:
    body = request(stream=stream, messages=[{"role": "user", "content": directive(error="500")}])
    response = post(gateway, body)
    assert "500" in error_of(response, 502, "api_error")
    # every account failed: "don't retry" — unless the retry budget (shared by the whole session's tests)
    # cut failover short first, in which case the gateway asks for a retry after a pause instead
    assert response.headers.get("x-should-retry") == "false" or response.headers.get("retry-after") == "1"


def test_upstream_failure_in_the_stream_is_an_error_event(
    gateway: Service, client: anthropic.Anthropic
) -> None:
    content = directive(reply="partial answer here and more words", error="in_stream")
    response = post(gateway, request(stream=True, messages=[{"role": "user", "content": content}]))
    assert response.status_code == 200
    result = check_stream(response.content)
    assert result.error is not None and result.error["type"] == "api_error"
    assert result.stop_reason is None and result.names[-1] == "error"

    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}]
        ) as s:
            for _ in s:
                pass
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]

    with pytest.raises(anthropic.APIStatusError) as non_stream:
        client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}])
    assert non_stream.value.status_code == 502


@pytest.fixture(scope="module")
def one_slot_gateway(emulator: Service) -> Iterator[Service]:
    env = {"SCHED_CHAT_CONCURRENT": "1", "SCHED_CHAT_QUEUE": "0"}
    service = start_gateway(env, accounts=emulator_accounts(emulator, 1))
    yield service
    service.stop()


def chat_in_flight(gateway: Service) -> int:
    return int(httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()["scheduler"]["chat"]["in_flight"])


def test_a_full_queue_is_529_overloaded_with_retry_after(one_slot_gateway: Service) -> None:
    # an answer that falls silent for a minute half-way holds the only slot until this test leaves it
    held_open = directive(reply="held open for a while", silence_mid=60)
    slow = request(stream=True, messages=[{"role": "user", "content": held_open}])
    headers = {"anthropic-version": "2023-06-01"}
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", f"{one_slot_gateway.url}/v1/messages", json=slow, headers=headers) as held,
    ):
        assert held.status_code == 200
        eventually(lambda: chat_in_flight(one_slot_gateway) == 1, what="the slow answer holds the slot")
        for body in (request(), request(stream=True)):
            response = post(one_slot_gateway, body)
            error_of(response, 529, "overloaded_error")
            assert int(response.headers["retry-after"]) >= 1
        client = anthropic.Anthropic(base_url=one_slot_gateway.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 529
    eventually(lambda: chat_in_flight(one_slot_gateway) == 0, what="the abandoned answer gives its slot back")


def test_error_body_carries_the_request_id_like_anthropic(gateway: Service) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/messages",
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]},
        headers={"anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"] == response.headers["request-id"]
