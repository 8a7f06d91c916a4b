"""Stored responses on every shared store backend: SQLite, Redis and DynamoDB (moto), the gateway a process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.processes import Service, emulator_accounts, start_gateway
from tests.services import moto_env, moto_service, redis_binary, redis_service


@pytest.fixture(params=["sqlite", "redis", "dynamodb"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"STORE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    elif request.param == "redis":
        if redis_binary() is None:
            pytest.skip("redis-server is not installed")
        with redis_service() as url:
            yield {"STORE_URL": url}
    else:
        with moto_service() as endpoint:
            table = f"t{uuid.uuid4().hex[:10]}"
            url = f"dynamodb://{table}?region=us-east-1&endpoint_url={endpoint}&create=1&timeout=15"
            yield {"STORE_URL": url, **moto_env()}


@pytest.fixture
def stored_gateway(emulator: Service, store_env: dict[str, str]) -> Iterator[Service]:
    service = start_gateway(store_env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def test_stored_responses_survive_on_the_shared_store(stored_gateway: Service) -> None:
    client = openai.OpenAI(base_url=f"{stored_gateway.url}/v1", api_key="tenant-a", max_retries=0)
    other = openai.OpenAI(base_url=f"{stored_gateway.url}/v1", api_key="tenant-b", max_retries=0)
    with client.responses.stream(model="qwen3-max", input="the first question") as stream:
        first = stream.get_final_response()
    assert client.responses.retrieve(first.id).output_text == "the first question"
    second = client.responses.create(model="qwen3-max", previous_response_id=first.id, input="a follow-up")
    assert second.output_text == "a follow-up"
    assert [i.content[0].text for i in client.responses.input_items.list(second.id).data] == ["a follow-up"]
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(second.id)
    answer = {"type": "item_reference", "id": first.output[-1].id}  # an output item resent by id
    third = client.responses.create(
        model="qwen3-max", input=[answer, {"role": "user", "content": "and then?"}]
    )
    resent = client.responses.input_items.list(third.id, order="asc").data[0]
    assert resent.type == "message" and resent.content[0].text == "the first question"
    with pytest.raises(openai.BadRequestError):
        other.responses.create(model="qwen3-max", input=[answer, {"role": "user", "content": "x"}])
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError):  # its output items went with it
        client.responses.create(model="qwen3-max", input=[answer, {"role": "user", "content": "x"}])
    assert client.responses.retrieve(second.id).previous_response_id == first.id
