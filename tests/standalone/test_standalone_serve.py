"""`qwen-server serve --emulate` from the standalone executable, alone in an empty folder with a bare
environment: the SDKs get answers, and what the executable carries inside works (shared/ data and prompts,
Qwen's tokenizer vocabulary, PyAV's encoders, the Redis client); with `--workers 2` every child process is the
executable itself.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import av
import openai
import pytest
import redis

from qwen_server.api.anthropic.count import count_input_tokens
from qwen_server.core.model import Message, TextPart
from qwen_server.core.tokens import count_tokens, rough_count
from qwen_server.emulator.media import SECONDS_PER_CHAR
from tests.processes import Service, directive
from tests.services import redis_binary, redis_service
from tests.standalone.frozen_app import Frozen

MIXED = "Internationalization and tokenization, 你好世界。"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


@pytest.fixture(scope="module")
def emulated(frozen: Frozen, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = frozen.start("serve", "--emulate", "--workers", "1", cwd=tmp_path_factory.mktemp("serve"))
    yield service
    service.stop()


@pytest.fixture
def client(emulated: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emulated.url}/v1", api_key="any", max_retries=0, timeout=30)


def test_chat_answers_plain_and_streamed(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "hello from a frozen gateway"}]
    )
    assert answer.choices[0].message.content == "hello from a frozen gateway"
    stream = client.chat.completions.create(
        model="qwen3-max", stream=True, messages=[{"role": "user", "content": directive(chunks=["one ", "two"])}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two"


def test_the_catalogue_and_the_tool_prompt_come_from_the_bundled_shared_data(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list().data}
    assert {"qwen3-max", "qwen-max"} <= ids, "the catalogue's models and aliases (shared/models.json)"
    answer = client.chat.completions.create(
        model="qwen-max",
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "weather? " + directive(reply=CALL)}],
    )
    calls = answer.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", {"city": "Paris"})
    ]


def test_token_counts_use_qwens_vocabulary(emulated: Service) -> None:
    assert count_tokens(MIXED) != rough_count(MIXED), "the text tells the vocabulary from the estimate"
    client = anthropic.Anthropic(base_url=emulated.url, api_key="any", max_retries=0, timeout=30)
    counted = client.messages.count_tokens(model="qwen3-max", messages=[{"role": "user", "content": MIXED}])
    assert counted.input_tokens == count_input_tokens([Message("user", [TextPart(MIXED)])], [])


def test_speech_is_encoded_to_mp3_by_the_bundled_pyav(client: openai.OpenAI) -> None:
    text = "Spoken by the standalone executable."
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="mp3")
    with av.open(io.BytesIO(audio.content)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "mp3"
        samples = sum(frame.samples for frame in container.decode(stream))
        seconds = samples / stream.codec_context.sample_rate
    assert len(text) * SECONDS_PER_CHAR <= seconds <= len(text) * SECONDS_PER_CHAR + 0.12


def _descendants(pid: int) -> list[int]:
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return children + [d for child in children for d in _descendants(child)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_workers_and_the_emulator_are_the_executable_itself(frozen: Frozen, tmp_path: Path) -> None:
    gateway = frozen.start("serve", "--emulate", "--workers", "2", cwd=tmp_path)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="any", max_retries=0, timeout=30)
        for i in range(4):
            answer = client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": f"worker check {i}"}]
            )
            assert answer.choices[0].message.content == f"worker check {i}"
        executable = Path(os.readlink(f"/proc/{gateway.process.pid}/exe"))
        assert frozen.cache in executable.parents, "the launcher runs the executable unpacked in its cache"
        children = _descendants(gateway.process.pid)
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children}
        assert all(Path(os.readlink(f"/proc/{pid}/exe")) == executable for pid in children), commands
        assert sum(c[1:2] == [b"emulator"] for c in commands.values()) == 1, commands
        assert sum(b"--multiprocessing-fork" in c for c in commands.values()) == 2, commands
    finally:
        gateway.process.send_signal(signal.SIGTERM)
        gateway.process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], "no worker or emulator outlives the server"


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_a_redis_store_works_from_the_executable(frozen: Frozen, tmp_path: Path) -> None:
    with redis_service() as url:
        gateway = frozen.start("serve", "--emulate", "--workers", "2", cwd=tmp_path, STORE_URL=url)
        try:
            client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="any", max_retries=0, timeout=30)
            answer = client.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": "kept in redis"}]
            )
            assert answer.choices[0].message.content == "kept in redis"
            assert f"store: {url.split('?')[0]}" in gateway.log()  # logged without its query string
            assert redis.Redis.from_url(url.split("?")[0]).dbsize() > 0, "the pool's and scheduler's state is in Redis"
        finally:
            gateway.stop()
