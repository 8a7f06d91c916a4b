"""Hostile input cannot make the gateway hold memory, read files or burn event-loop time out of proportion to
what it serves: each attack runs over real HTTP against the gateway process (the emulator its own process),
measured by what the server did, never by wall-clock time: its peak resident memory since a reset, the bytes
it read, the CPU time of its event-loop thread, the status it answered, and whether the upstream was reached.
While an attack runs, `/health` must keep answering (within a deadline of seconds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.proc_stats import HealthWatch, MiB, bytes_read, cpu_ticks, main_thread_ticks, peak_rss, reset_peak
from tests.processes import Service, emulator_accounts, emulator_stats, start_emulator, start_gateway

VISION = "qwen3-vl-plus"
OPUS = "claude-opus-4-1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(56)
LIMITS = {"FILES_MAX_BYTES": str(26 * MiB), "MAX_REQUEST_BYTES": str(4 * MiB)}
ANTHROPIC = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "5", accounts=1)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway(LIMITS, accounts=emulator_accounts(emulator, 1))
    oai = openai.OpenAI(base_url=f"{service.url}/v1", api_key="k", max_retries=0)
    # warm up what the attacks touch (the vocabulary, the media and upload paths), so that what they
    # measure is the attack, not a module's first import
    claude = anthropic.Anthropic(base_url=service.url, api_key="k", max_retries=0)
    claude.messages.count_tokens(model=OPUS, messages=[{"role": "user", "content": "warm up"}])
    small = oai.files.create(file=("dot.png", PNG, "image/png"), purpose="vision")
    ask(oai, [file_part(small.id), {"type": "text", "text": "warm up"}])
    yield service
    service.stop()


@pytest.fixture
def oai(gateway: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)


def pid(gateway: Service) -> int:
    return gateway.process.pid


def ask(oai: openai.OpenAI, content: list[dict[str, Any]]) -> str:
    answer = oai.chat.completions.create(model=VISION, messages=[{"role": "user", "content": content}])  # type: ignore[misc,list-item]
    return answer.choices[0].message.content or ""


def file_part(file_id: str) -> dict[str, Any]:
    return {"type": "file", "file": {"file_id": file_id}}


def completions(emulator: Service) -> int:
    return int(emulator_stats(emulator)["completions"])


# ---- 5. file_id fan-out ----------------------------------------------------------------------------------


def test_a_file_over_the_cap_named_by_many_parts_is_refused_before_a_byte_is_read(
    gateway: Service, emulator: Service, oai: openai.OpenAI
) -> None:
    big = oai.files.create(file=("big.png", PNG + bytes(24 * MiB), "image/png"), purpose="vision")
    before = completions(emulator)
    reset_peak(pid(gateway))
    start = peak_rss(pid(gateway))
    with pytest.raises(openai.BadRequestError) as refused:
        ask(oai, [file_part(big.id) for _ in range(8)] + [{"type": "text", "text": "describe"}])
    grown = peak_rss(pid(gateway)) - start
    assert refused.value.code == "media_too_large"
    assert refused.value.param == "messages.0.content.0.file.file_id"
    assert grown < 64 * MiB, f"peak memory grew {grown / MiB:.0f} MiB (reading the file once is 24 MiB)"
    assert completions(emulator) == before  # the upstream never saw it


def test_a_file_named_by_several_parts_is_read_once(gateway: Service, oai: openai.OpenAI) -> None:
    photo = PNG + bytes(4 * MiB)
    uploaded = oai.files.create(file=("photo.png", photo, "image/png"), purpose="vision")
    read_before = bytes_read(pid(gateway))
    answer = ask(oai, [file_part(uploaded.id) for _ in range(3)] + [{"type": "text", "text": "compare"}])
    read = bytes_read(pid(gateway)) - read_before
    assert answer.count(f"{len(photo)} bytes") == 3  # the model got all three parts
    assert read < 2 * len(photo), f"the server read {read / MiB:.1f} MiB for one {len(photo) / MiB:.0f} MiB file"


def test_more_media_parts_than_a_request_may_carry_are_refused(
    gateway: Service, emulator: Service, oai: openai.OpenAI
) -> None:
    small = oai.files.create(file=("dot.png", PNG, "image/png"), purpose="vision")
    before = completions(emulator)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(oai, [file_part(small.id) for _ in range(101)])
    assert refused.value.code == "too_many_media" and "at most 100" in refused.value.message
    assert completions(emulator) == before


# ---- 6. multipart forms ------------------------------------------------------------------------------------


def test_a_flood_of_form_fields_is_refused_without_being_held(gateway: Service) -> None:
    def fields() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it by
        for i in range(600):
            yield f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
            yield b"x" * (60 * 1024) + b"\r\n"
        yield b"--b--\r\n"

    reset_peak(pid(gateway))
    start = peak_rss(pid(gateway))
    with HealthWatch(gateway.url) as health:
        response = httpx.post(
            f"{gateway.url}/v1/files",
            content=fields(),
            headers={"content-type": "multipart/form-data; boundary=b", "authorization": "Bearer k"},
            timeout=60,
        )
    grown = peak_rss(pid(gateway)) - start
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_upload"
    assert grown < 16 * MiB, f"peak memory grew {grown / MiB:.0f} MiB for 35 MiB of refused fields"
    assert health.probes and not health.failures


def _tiny_fields(count: int) -> Iterator[bytes]:
    for i in range(count):
        yield f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
    yield b"--b--\r\n"


def _long_header() -> Iterator[bytes]:  # each header within the parser's own bound, together past 16 KiB
    yield b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n'
    for i in range(5):  # python-multipart 0.0.2x takes 8 headers of 4 KiB each
        yield f"X-Pad-{i}: ".encode() + b"p" * 4000 + b"\r\n"
    yield b"\r\nbatch\r\n--b--\r\n"


@pytest.mark.parametrize(
    ("form", "words"),
    [(lambda: _tiny_fields(17), "more than 16 parts"), (_long_header, "bytes of headers")],
    ids=["parts", "headers"],
)
def test_a_form_of_too_many_parts_or_too_long_headers_is_refused(
    gateway: Service, form: Callable[[], Iterator[bytes]], words: str
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/files",
        content=form(),
        headers={"content-type": "multipart/form-data; boundary=b", "authorization": "Bearer k"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_upload" and words in response.json()["error"]["message"]


def test_a_chunked_form_past_the_size_limit_is_a_413_whatever_carries_the_bytes(gateway: Service) -> None:
    def form() -> Iterator[bytes]:  # a small file, then bytes after the closing boundary
        yield b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\r\n--b--\r\n'
        for _ in range(28):
            yield b"e" * MiB

    response = httpx.post(
        f"{gateway.url}/v1/files",
        content=form(),
        headers={"content-type": "multipart/form-data; boundary=b", **ANTHROPIC},
        timeout=60,
    )
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "error"  # the Anthropic shape: the request spoke Anthropic
    assert response.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/videos", "/v1/audio/transcriptions"])
def test_every_multipart_route_bounds_its_form_fields(gateway: Service, path: str) -> None:
    many = {f"extra{i}": "x" for i in range(40)}
    response = httpx.post(
        f"{gateway.url}{path}",
        data={"prompt": "a cat", "model": "x", **many},
        files={"file" if "audio" in path else "image": ("a.png", PNG, "image/png")},
        headers={"authorization": "Bearer k"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "fields" in response.json()["error"]["message"]
    big = httpx.post(
        f"{gateway.url}{path}",
        data={"prompt": "x" * (200 * 1024), "model": "x"},
        files={"file" if "audio" in path else "image": ("a.png", PNG, "image/png")},
        headers={"authorization": "Bearer k"},
        timeout=30,
    )
    assert big.status_code == 400 and "exceeded maximum size" in big.json()["error"]["message"]


# ---- 7. event-loop stalls ----------------------------------------------------------------------------------


def test_a_flood_of_stop_sequences_is_refused_before_the_upstream(
    gateway: Service, emulator: Service, oai: openai.OpenAI
) -> None:
    before = completions(emulator)
    flood = {"model": OPUS, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    with HealthWatch(gateway.url) as health:
        response = httpx.post(
            f"{gateway.url}/v1/messages",
            json={**flood, "stop_sequences": [f"s{i}" for i in range(300_000)]},
            headers=ANTHROPIC,
            timeout=60,
        )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    assert "at most 16 stop sequences" in response.json()["error"]["message"]
    assert health.probes and not health.failures
    long_stop = httpx.post(
        f"{gateway.url}/v1/messages", json={**flood, "stop_sequences": ["x" * 257]}, headers=ANTHROPIC, timeout=30
    )
    assert long_stop.status_code == 400 and "at most 256" in long_stop.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as legacy:
        oai.completions.create(model="qwen3-max", prompt="hi", stop=["a", "b", "c", "d", "e"])
    assert legacy.value.param == "stop"
    assert completions(emulator) == before


def test_sixteen_long_stop_sequences_still_stop_the_answer(gateway: Service) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    near_misses = [("alpha " * 50)[:255] + chr(0x41 + i) for i in range(15)]  # each begins like the answer
    message = client.messages.create(
        model=OPUS,
        max_tokens=256,
        stop_sequences=[*near_misses, "gamma"],
        messages=[{"role": "user", "content": "alpha alpha beta gamma delta"}],
    )
    assert message.content[0].text == "alpha alpha beta "  # type: ignore[union-attr]
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "gamma"


def test_counting_a_huge_prompt_runs_off_the_event_loop(gateway: Service) -> None:
    # 3 MB of numbers: a token every three characters, the most work per byte for the tokenizer
    body = {"model": OPUS, "messages": [{"role": "user", "content": "1234567890 " * 270_000}]}
    server = pid(gateway)
    total_before, loop_before = cpu_ticks(server), main_thread_ticks(server)
    with HealthWatch(gateway.url) as health:
        response = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=120)
    total, on_loop = cpu_ticks(server) - total_before, main_thread_ticks(server) - loop_before
    assert response.status_code == 200 and response.json()["input_tokens"] > 100_000
    assert total >= 10, "too little work to tell where it ran"  # clock ticks: 1/100 s each
    assert on_loop < total / 2, f"the event-loop thread spent {on_loop} of the {total} ticks counting"
    assert health.probes and not health.failures


def test_a_body_of_many_small_blocks_is_checked_off_the_event_loop(gateway: Service) -> None:
    blocks = [{"type": "text", "text": "hi"}] * 140_000  # 3.6 MB: parsing and schema checks, block by block
    body = {"model": OPUS, "messages": [{"role": "user", "content": blocks}]}
    server = pid(gateway)
    total_before, loop_before = cpu_ticks(server), main_thread_ticks(server)
    with HealthWatch(gateway.url) as health:
        response = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=120)
    total, on_loop = cpu_ticks(server) - total_before, main_thread_ticks(server) - loop_before
    assert response.status_code == 200, response.text
    assert total >= 10, "too little work to tell where it ran"  # clock ticks: 1/100 s each
    assert on_loop < total / 2, f"the event-loop thread spent {on_loop} of the {total} ticks on one body"
    assert health.probes and not health.failures
    body["messages"][0]["content"] = [*blocks[:20_000], {"type": "text"}]  # checked off the loop, answered alike
    refused = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=120)
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert "messages.0.content.20000.text" in refused.json()["error"]["message"]


@pytest.mark.parametrize("content", [" " * 3_000_000, "b" * 3_000_000], ids=["spaces", "one word"])
def test_a_huge_prompt_of_one_endless_piece_is_counted(gateway: Service, content: str) -> None:
    # one pre-tokenizer piece of millions of characters: encoding it whole overflows the encoder's stack
    body = {"model": OPUS, "messages": [{"role": "user", "content": content}]}
    with HealthWatch(gateway.url) as health:
        response = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] >= 3_000_000 // 4
    assert health.probes and not health.failures


def test_a_batch_file_of_one_huge_line_fails_without_being_held(gateway: Service, oai: openai.OpenAI) -> None:
    line = (
        b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "qwen3-max", '
        b'"messages": [{"role": "user", "content": "' + b"w" * (25 * MiB) + b'"}]}}'
    )
    uploaded = oai.files.create(file=("one-line.jsonl", line), purpose="batch")
    reset_peak(pid(gateway))
    start = peak_rss(pid(gateway))
    answers: list[Any] = []
    with HealthWatch(gateway.url) as health:
        worker = threading.Thread(
            target=lambda: answers.append(
                oai.batches.create(
                    input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            )
        )
        worker.start()
        worker.join(timeout=120)
    grown = peak_rss(pid(gateway)) - start
    batch = answers[0]
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert (batch.errors.data[0].code, batch.errors.data[0].line) == ("line_too_long", 1)
    assert grown < 20 * MiB, f"peak memory grew {grown / MiB:.0f} MiB for a line refused at 4 MiB"
    assert health.probes and not health.failures


def test_long_batch_lines_are_parsed_off_the_event_loop(gateway: Service, oai: openai.OpenAI) -> None:
    def line(i: int) -> bytes:  # 1 MB of nested empty arrays: the most work per byte for a JSON parser
        body = {"model": "qwen3-max", "messages": [], "x": [[]] * 350_000}
        return orjson.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})

    # three long lines that parse, then one that does not: the batch fails after the work, and nothing runs
    data = b"\n".join([*(line(i) for i in range(3)), b'{"custom_id": "bad"}'])
    uploaded = oai.files.create(file=("long-lines.jsonl", data), purpose="batch")
    server = pid(gateway)
    total_before, loop_before = cpu_ticks(server), main_thread_ticks(server)
    with HealthWatch(gateway.url) as health:
        batch = oai.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", timeout=120
        )
    total, on_loop = cpu_ticks(server) - total_before, main_thread_ticks(server) - loop_before
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert batch.errors.data[0].line == 4  # every long line before it parsed
    assert total >= 10, "too little work to tell where it ran"  # clock ticks: 1/100 s each
    assert on_loop < total / 2, f"the event-loop thread spent {on_loop} of the {total} ticks parsing"
    assert health.probes and not health.failures
