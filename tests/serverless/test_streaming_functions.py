"""The streaming functions started the way the Web Adapter starts them: the real `run.sh` with $PORT set,
then streamed through with the official SDKs."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, free_port, start_emulator, wait_http
from tests.serverless.serverless_support import (
    FUNCTIONS,
    emf_lines,
    json_lines,
    lambda_env,
    require_group,
    stop,
)

# What the Web Adapter adds to every invocation it forwards (its readiness probes lack it).
FORWARDED = {"x-amzn-request-context": json.dumps({"requestId": "test", "stage": "$default"})}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=2)
    yield service
    service.stop()


class RunScript:
    """`sh functions/<group>/run.sh` with the Lambda environment of template.yaml (minus the AWS services)."""

    def __init__(self, group: str, emulator: Service) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix=f"run-{group}-", suffix=".log")[1])
        env = lambda_env(
            f"qwen-{group}",
            PORT=str(self.port),
            STORE_URL="memory://",
            QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)),
            AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap",
            AWS_LWA_INVOKE_MODE="response_stream",
            AWS_LWA_READINESS_CHECK_PATH="/health",
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["sh", str(FUNCTIONS / group / "run.sh")],
                cwd=tempfile.mkdtemp(prefix=f"task-{group}-"),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(f"{self.url}/health", self.process)  # the adapter's readiness probe
        except RuntimeError:
            stop(self.process)
            raise RuntimeError(self.log.read_text()) from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> list[str]:
        stop(self.process)
        return self.log.read_text(errors="replace").splitlines()


def test_chat_run_script_streams_with_the_openai_sdk(emulator: Service) -> None:
    function = RunScript("chat", emulator)
    try:
        client = openai.OpenAI(
            base_url=f"{function.url}/v1", api_key="any", max_retries=0, default_headers=FORWARDED
        )
        stream = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "one two three four five"}], stream=True
        )
        chunks = list(stream)
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="qwen3-max", messages=[])
        served_elsewhere = httpx.get(f"{function.url}/v1/models", timeout=30)
    finally:
        lines = function.output()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 4, "arrived in pieces"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert bad.value.body is not None and "message" in bad.value.body  # type: ignore[operator]
    assert served_elsewhere.status_code == 404, "models live in the meta function"

    metrics = [m for m in emf_lines(lines) if "Requests" in m]
    assert sorted((m["route"], m["status"]) for m in metrics) == [
        ("/v1/chat/completions", 200),
        ("/v1/chat/completions", 400),
        ("unmatched", 404),
    ], "every forwarded request counted once, the readiness probes not at all"
    assert len([m for m in emf_lines(lines) if "ColdStart" in m]) == 1
    streamed = next(m for m in metrics if m["status"] == 200)
    assert streamed["Latency"][0] > 0, "timed to the end of the stream"
    access = [doc["message"] for doc in json_lines(lines) if isinstance(doc.get("message"), dict)]
    assert [(a["route"], a["status"]) for a in access if a["route"] != "/health"] == [
        ("/v1/chat/completions", 200),
        ("/v1/chat/completions", 400),
        ("unmatched", 404),
    ], "one access-log line per request, written by the Powertools Logger on Lambda"


def test_messages_run_script_streams_with_the_anthropic_sdk(emulator: Service) -> None:
    require_group("messages")
    function = RunScript("messages", emulator)
    try:
        client = anthropic.Anthropic(
            base_url=function.url, api_key="any", max_retries=0, default_headers=FORWARDED
        )
        probe = httpx.post(f"{function.url}/v1/messages", json={}, timeout=30)
        if probe.status_code == 501:
            pytest.skip("the messages routes exist but still answer 501 (being built elsewhere)")
        with client.messages.stream(
            model="qwen3-max",
            max_tokens=256,
            messages=[{"role": "user", "content": "alpha beta gamma delta"}],
        ) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        counted = client.messages.count_tokens(
            model="qwen3-max", messages=[{"role": "user", "content": "count these tokens please"}]
        )
    finally:
        lines = function.output()
    assert "".join(pieces) == "alpha beta gamma delta"
    assert len(pieces) >= 2, "arrived in pieces"
    assert final.stop_reason == "end_turn"
    assert counted.input_tokens > 0
    routes = {m["route"] for m in emf_lines(lines) if "Requests" in m}
    assert routes == {"/v1/messages", "/v1/messages/count_tokens"}


def test_audio_run_script_speaks_and_refuses_embeddings_without_a_capable_account(emulator: Service) -> None:
    from qwen_server.emulator.media import speech_pcm

    require_group("audio")
    function = RunScript("audio", emulator)
    try:
        client = openai.OpenAI(
            base_url=f"{function.url}/v1", api_key="any", max_retries=0, default_headers=FORWARDED
        )
        with pytest.raises(openai.BadRequestError) as no_embeddings:
            client.embeddings.create(model="text-embedding-3-small", input="hello")
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="streamed from the function " * 3, response_format="pcm"
        ) as response:
            pieces = [p for p in response.iter_bytes(4096) if p]
        served_elsewhere = httpx.post(f"{function.url}/v1/chat/completions", json={}, timeout=30)
    finally:
        lines = function.output()
    assert "DashScope or OpenAI-compatible" in str(no_embeddings.value.body)
    assert b"".join(pieces) == speech_pcm("streamed from the function " * 3)
    assert len(pieces) > 1, "arrived in pieces"
    assert served_elsewhere.status_code == 404, "chat lives in the chat function"
    routes = sorted((m["route"], m["status"]) for m in emf_lines(lines) if "Requests" in m)
    assert routes == [("/v1/audio/speech", 200), ("/v1/embeddings", 400), ("unmatched", 404)]
