"""Stored responses larger than a DynamoDB item (400 KB) on DynamoDB + S3 (moto's server), the gateway a process.

The record of a large turn goes to the blob store with a reference in the item, so the upstream's answer is
stored (streamed or not) and `previous_response_id` continues it; a follow-up's record holds only its own turn
(the conversation is chained by reference, not copied), which the test reads from the table itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import boto3
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_gateway
from tests.services import moto_env, moto_service

DYNAMODB_ITEM_LIMIT = 400 * 1024


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[str, str, str]]:
    with moto_service() as endpoint:
        bucket, table = f"b{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield endpoint, bucket, table


@pytest.fixture(scope="module")
def gateway(emulator: Service, aws: tuple[str, str, str]) -> Iterator[Service]:
    endpoint, bucket, table = aws
    env = {
        "STORE_URL": f"dynamodb://{table}?region=us-east-1&endpoint_url={endpoint}&create=1",
        "BLOB_URL": f"s3://{bucket}/gw",
        "S3_ENDPOINT_URL": endpoint,
        **moto_env(),
    }
    service = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def _record_sizes(endpoint: str, table: str) -> dict[str, int]:
    """The size of each stored response record in the table (its value's bytes), by response id."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    sizes: dict[str, int] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            key = item["pk"]["S"]
            if key.startswith("kv#responses:"):
                sizes[key.rsplit(":", 1)[1]] = len(item["v"]["B"])
    return sizes


def _sent_bytes(echo: str) -> int:
    """The size of the conversation file the emulator's echo names (a conversation too long for one message
    goes upstream as an attached file)."""
    found = re.search(r"\[file conversation\.txt text/plain (\d+) bytes", echo)
    assert found, echo[-300:]
    return int(found.group(1))


def _big_text(size: int) -> str:
    text = " ".join(f"w{i}" for i in range(size // 4))[:size]
    assert len(text) == size
    return text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_conversation_past_the_item_limit_is_stored_and_continued(
    gateway: Service, aws: tuple[str, str, str], stream: bool
) -> None:
    endpoint, bucket, table = aws
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="tenant-a", max_retries=0, timeout=120)
    big = _big_text(450 * 1024)
    if stream:
        with client.responses.stream(model="qwen3-max", input=big) as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(model="qwen3-max", input=big)
    assert _sent_bytes(first.output_text) > DYNAMODB_ITEM_LIMIT  # too long for one message: sent as a file
    assert client.responses.retrieve(first.id).output_text == first.output_text
    assert client.responses.input_items.list(first.id).data[0].content[0].text == big

    if stream:
        with client.responses.stream(
            model="qwen3-max", previous_response_id=first.id, input="a follow-up"
        ) as events:
            second = events.get_final_response()
    else:
        second = client.responses.create(model="qwen3-max", previous_response_id=first.id, input="a follow-up")
    # the follow-up's prompt carried the whole large context, rebuilt from the stored turns
    assert second.output_text.startswith("a follow-up")
    assert _sent_bytes(second.output_text) > _sent_bytes(first.output_text)
    third = client.responses.create(model="qwen3-max", previous_response_id=second.id, input="and a third")
    assert third.output_text.startswith("and a third")
    assert _sent_bytes(third.output_text) > _sent_bytes(second.output_text)
    assert [i.content[0].text for i in client.responses.input_items.list(third.id).data] == ["and a third"]

    sizes = _record_sizes(endpoint, table)
    assert max(sizes.values()) < DYNAMODB_ITEM_LIMIT
    assert sizes[second.id] < 8 * 1024 and sizes[third.id] < 8 * 1024  # a turn each, not the context again
    s3 = boto3.client("s3", endpoint_url=endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    [blob] = [k for k in keys if k.endswith(f"{first.id}.json")]
    tags = s3.get_object_tagging(Bucket=bucket, Key=blob)["TagSet"]
    assert {"Key": "qwen-expiry", "Value": "30d"} in tags  # reclaimed with the record (RESPONSES_TTL_SECONDS)

    client.responses.delete(first.id)  # its blob goes with it, and the chain ends at the turn after it
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert blob not in keys
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    fourth = client.responses.create(model="qwen3-max", previous_response_id=third.id, input="still here")
    assert fourth.output_text == "still here"  # a short conversation now: no file
