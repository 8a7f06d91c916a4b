"""Files and batches through the official openai and anthropic SDKs against the gateway and emulator
processes: batches to completion with good and failing lines, results read back, files on both APIs,
malformed input, oversize uploads and isolation between two keys."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.batches.helpers import chat_line, jsonl, wait_for
from tests.processes import Service, emulator_accounts, start_gateway

KEYS = "key-alice,key-bob,key-carol"


@pytest.fixture(scope="module")
def gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway(
        {"GATEWAY_API_KEYS": KEYS, "FILES_MAX_BYTES": "100000", "BATCH_CHUNK_LINES": "2"},
        accounts=emulator_accounts(emulator, 3),
    )
    yield service
    service.stop()


def oai(gateway: Service, key: str = "key-alice") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def ant(gateway: Service, key: str = "key-alice") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def test_openai_batch_with_good_and_failing_lines_runs_to_completion(gateway: Service) -> None:
    client = oai(gateway)
    lines = [
        chat_line("good-1", "first answer"),
        chat_line("bad-model", "x", model="no-such-model-anywhere"),
        chat_line("good-2", "second answer"),
        chat_line("bad-n", "y", n=2),
        chat_line("good-3", "third answer"),
    ]
    uploaded = client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch")
    assert (
        uploaded.id.startswith("file-")
        and uploaded.purpose == "batch"
        and uploaded.bytes == len(jsonl(lines))
    )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.id.startswith("batch_") and batch.status in ("validating", "in_progress")
    assert batch.metadata == {"job": "nightly"} and batch.request_counts and batch.request_counts.total == 5

    done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (5, 3, 2)
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert done.usage is not None and done.usage.output_tokens > 0
    assert done.output_file_id and done.error_file_id

    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in output] == ["good-1", "good-2", "good-3"]
    for line, text in zip(output, ["first answer", "second answer", "third answer"], strict=True):
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200
        assert line["response"]["body"]["object"] == "chat.completion"
        assert line["response"]["body"]["choices"][0]["message"]["content"] == text

    errors = {
        e["custom_id"]: e for e in map(json.loads, client.files.content(done.error_file_id).text.splitlines())
    }
    assert set(errors) == {"bad-model", "bad-n"}
    assert errors["bad-model"]["response"]["status_code"] == 404
    assert errors["bad-n"]["response"]["status_code"] == 400
    assert errors["bad-n"]["response"]["body"]["error"]["type"] == "invalid_request_error"

    out_meta = client.files.retrieve(done.output_file_id)
    assert out_meta.purpose == "batch_output"
    listed = [b.id for b in client.batches.list()]
    assert batch.id in listed
    assert {f.id for f in client.files.list(purpose="batch_output")} >= {
        done.output_file_id,
        done.error_file_id,
    }


def test_malformed_jsonl_fails_the_batch_naming_the_line(gateway: Service) -> None:
    client = oai(gateway)
    data = jsonl([chat_line("a", "fine")]) + b"{not json\n" + jsonl([chat_line("c", "fine")])
    uploaded = client.files.create(file=("bad.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed" and batch.failed_at
    assert batch.errors and batch.errors.data and batch.errors.data[0].line == 2
    assert batch.errors.data[0].code == "invalid_json_line"

    dup = client.files.create(
        file=("dup.jsonl", jsonl([chat_line("x", "1"), chat_line("x", "2")])), purpose="batch"
    )
    failed = client.batches.create(
        input_file_id=dup.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert failed.status == "failed" and failed.errors and failed.errors.data[0].line == 2

    with pytest.raises(openai.BadRequestError) as wrong_endpoint:
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/moderations", completion_window="24h")  # type: ignore[arg-type]
    assert wrong_endpoint.value.body["param"] == "endpoint"  # type: ignore[index]


def test_oversize_uploads_are_413_in_each_apis_shape(gateway: Service) -> None:
    big = b"x" * 150_000
    with pytest.raises(openai.APIStatusError) as too_big:
        oai(gateway).files.create(file=("big.jsonl", big), purpose="batch")
    assert too_big.value.status_code == 413
    assert too_big.value.body["code"] == "file_too_large"  # type: ignore[index]

    with pytest.raises(anthropic.APIStatusError) as too_big_a:
        ant(gateway).beta.files.upload(file=("big.txt", big, "text/plain"))
    assert too_big_a.value.status_code == 413
    assert too_big_a.value.body["type"] == "error"  # type: ignore[index]

    # chunked (no Content-Length): refused while streaming, and nothing is kept
    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
        for _ in range(20):
            yield b"y" * 10_000
        yield b"\r\n--b--\r\n"

    response = httpx.post(
        f"{gateway.url}/v1/files",
        content=chunks(),
        headers={"authorization": "Bearer key-alice", "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413, response.text
    assert "big.jsonl" not in {f.filename for f in oai(gateway).files.list()}

    not_multipart = httpx.post(
        f"{gateway.url}/v1/files", json={"purpose": "batch"}, headers={"authorization": "Bearer key-alice"}
    )
    assert not_multipart.status_code == 400 and not_multipart.json()["error"]["code"] == "invalid_upload"
    no_purpose = httpx.post(
        f"{gateway.url}/v1/files",
        files={"file": ("a.jsonl", b"{}")},
        headers={"authorization": "Bearer key-alice"},
    )
    assert no_purpose.status_code == 400 and no_purpose.json()["error"]["param"] == "purpose"


def test_anthropic_batch_through_results(gateway: Service) -> None:
    client = ant(gateway)
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": "one",
                "params": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": "hello one"}],
                },
            },
            {"custom_id": "broken", "params": {"model": "claude-sonnet-4-5", "messages": "not a list"}},
            {
                "custom_id": "two",
                "params": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": "hello two"}],
                },
            },
        ]
    )
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    ended = wait_for(
        lambda: client.messages.batches.retrieve(batch.id), lambda b: b.processing_status == "ended"
    )
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.processing, counts.canceled, counts.expired) == (
        2,
        1,
        0,
        0,
        0,
    )
    assert ended.ended_at is not None and ended.results_url and ended.results_url.endswith("/results")
    assert (ended.expires_at - ended.created_at).total_seconds() == pytest.approx(86400, abs=1)

    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert set(results) == {"one", "broken", "two"}
    assert results["one"].type == "succeeded" and results["one"].message.content[0].text == "hello one"  # type: ignore[union-attr]
    assert results["two"].type == "succeeded"
    assert results["broken"].type == "errored"
    assert results["broken"].error.error.type == "invalid_request_error"  # type: ignore[union-attr]
    assert batch.id in [b.id for b in client.messages.batches.list()]

    deleted = client.messages.batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)

    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(
            requests=[
                {"custom_id": "same", "params": {"model": "m", "max_tokens": 1, "messages": []}},
                {"custom_id": "same", "params": {"model": "m", "max_tokens": 1, "messages": []}},
            ]
        )


def test_anthropic_files_upload_list_metadata_download_delete(gateway: Service) -> None:
    client = ant(gateway, "key-carol")
    made = [
        client.beta.files.upload(file=(f"note{i}.txt", f"note {i}".encode(), "text/plain")) for i in range(3)
    ]
    for f in made:
        assert f.id.startswith("file_011") and f.type == "file" and f.mime_type == "text/plain"
        assert f.downloadable is False
    meta = client.beta.files.retrieve_metadata(made[0].id)
    assert meta.filename == "note0.txt" and meta.size_bytes == len(b"note 0")
    page = client.beta.files.list(limit=2)
    assert [f.id for f in page.data] == [made[2].id, made[1].id] and page.has_more
    rest = client.beta.files.list(limit=2, extra_query={"after_id": made[1].id})
    assert [f.id for f in rest.data] == [made[0].id] and not rest.has_more
    before = client.beta.files.list(limit=5, extra_query={"before_id": made[0].id})
    assert [f.id for f in before.data] == [made[2].id, made[1].id]
    assert [f.id for f in client.beta.files.list(limit=1)] == [
        f.id for f in reversed(made)
    ]  # the SDK pages on
    with pytest.raises(anthropic.BadRequestError):
        client.beta.files.download(made[0].id)
    # Anthropic files are not in the OpenAI listing, nor OpenAI's in Anthropic's
    assert not {f.id for f in made} & {f.id for f in oai(gateway, "key-carol").files.list()}
    assert client.beta.files.delete(made[0].id).type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError) as gone:
        client.beta.files.retrieve_metadata(made[0].id)
    assert gone.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_another_key_sees_nothing_and_gets_404_everywhere(gateway: Service) -> None:
    alice, bob = oai(gateway), oai(gateway, "key-bob")
    uploaded = alice.files.create(file=("mine.jsonl", jsonl([chat_line("a", "private")])), purpose="batch")
    batch = alice.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    a_file = ant(gateway).beta.files.upload(file=("secret.txt", b"secret", "text/plain"))
    a_batch = ant(gateway).messages.batches.create(
        requests=[
            {
                "custom_id": "q",
                "params": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            }
        ]
    )

    for call in (
        lambda: bob.files.retrieve(uploaded.id),
        lambda: bob.files.content(uploaded.id),
        lambda: bob.files.delete(uploaded.id),
        lambda: bob.batches.retrieve(batch.id),
        lambda: bob.batches.cancel(batch.id),
        lambda: bob.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    b_ant = ant(gateway, "key-bob")
    for acall in (
        lambda: b_ant.beta.files.retrieve_metadata(a_file.id),
        lambda: b_ant.beta.files.delete(a_file.id),
        lambda: b_ant.messages.batches.retrieve(a_batch.id),
        lambda: b_ant.messages.batches.cancel(a_batch.id),
        lambda: list(b_ant.messages.batches.results(a_batch.id)),
    ):
        with pytest.raises(anthropic.NotFoundError):
            acall()
    assert uploaded.id not in {f.id for f in bob.files.list()}
    assert batch.id not in {b.id for b in bob.batches.list()}
    assert a_file.id not in {f.id for f in b_ant.beta.files.list()}
    assert a_batch.id not in {b.id for b in b_ant.messages.batches.list()}
    # alice still has everything
    assert alice.files.retrieve(uploaded.id).id == uploaded.id


def test_openai_files_upload_list_page_content_delete(gateway: Service) -> None:
    client = oai(gateway, "key-carol")
    odd = "notes été.txt"
    made = [
        client.files.create(
            file=(odd if i == 0 else f"f{i}.txt", f"body {i}".encode()),
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": 3600},
        )
        for i in range(3)
    ]
    assert all(f.expires_at == f.created_at + 3600 and f.status == "processed" for f in made)
    assert made[0].filename == odd
    newest_first = [f.id for f in client.files.list(purpose="user_data")]
    assert newest_first == [f.id for f in reversed(made)]
    oldest = client.files.list(purpose="user_data", order="asc", limit=2)
    assert [f.id for f in oldest.data] == [made[0].id, made[1].id] and oldest.has_more
    after = client.files.list(purpose="user_data", order="asc", after=made[1].id)
    assert [f.id for f in after.data] == [made[2].id]

    raw = httpx.get(
        f"{gateway.url}/v1/files/{made[0].id}/content", headers={"authorization": "Bearer key-carol"}
    )
    assert raw.content == b"body 0"
    assert raw.headers["content-disposition"] == (
        "attachment; filename=\"notes _t_.txt\"; filename*=UTF-8''notes%20%C3%A9t%C3%A9.txt"
    )
    assert client.files.content(made[1].id).read() == b"body 1"

    deleted = client.files.delete(made[0].id)
    assert deleted.id == made[0].id and deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as gone:
        client.files.retrieve(made[0].id)
    assert gone.value.body["code"] == "file_not_found"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad_purpose:
        client.files.create(file=("x.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    assert bad_purpose.value.body["param"] == "purpose"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.files.create(
            file=("x.txt", b"x"), purpose="batch", expires_after={"anchor": "created_at", "seconds": 5}
        )
