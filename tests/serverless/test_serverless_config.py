"""Configuration on serverless, where there is no start-up to stop: a setting that cannot work is answered to
every request as a 503 naming the variable (no crash loop, no traceback), and DEBUG raises the log level
there as it does under `serve`."""

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
    body_json,
    clean_env,
    http_api_event,
    invoke,
    json_lines,
    lambda_env,
    stop,
)

FORWARDED = {"x-amzn-request-context": json.dumps({"requestId": "test", "stage": "$default"})}
ACCOUNT = {"email": "a@example.com", "password": "pw-not-shown"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=1)
    yield service
    service.stop()


class Function:
    """`sh functions/<group>/run.sh` as the Web Adapter (or a Vercel-like host) starts it, with `env`."""

    def __init__(self, group: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix=f"config-{group}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["sh", str(FUNCTIONS / group / "run.sh")],
                cwd=tempfile.mkdtemp(prefix=f"config-{group}-"),
                env={**env, "PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(f"{self.url}/health", self.process)
        except RuntimeError:
            stop(self.process)
            raise RuntimeError(self.log.read_text()) from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        stop(self.process)
        return self.log.read_text(errors="replace")


def test_a_bad_setting_is_a_503_naming_it_on_every_request() -> None:
    env = lambda_env(
        "qwen-chat", STORE_URL="memory://", QWEN_ACCOUNTS=json.dumps([ACCOUNT]), MODEL_ALIASES="{oops"
    )
    function = Function("chat", env)
    try:
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}
        first = httpx.post(f"{function.url}/v1/chat/completions", json=body, headers=FORWARDED, timeout=30)
        second = httpx.post(f"{function.url}/v1/chat/completions", json=body, headers=FORWARDED, timeout=30)
        client = openai.OpenAI(
            base_url=f"{function.url}/v1", api_key="k", max_retries=2, default_headers=FORWARDED
        )
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(**body)  # type: ignore[call-overload]
        alive = function.process.poll() is None
    finally:
        output = function.output()
    for response in (first, second):
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "gateway_misconfigured" and "MODEL_ALIASES" in error["message"]
        assert response.headers["x-should-retry"] == "false"
    assert info.value.status_code == 503 and "MODEL_ALIASES" in info.value.message
    assert alive, "the function keeps answering: no crash loop"
    assert "Traceback" not in output
    access = [d["message"] for d in json_lines(output.splitlines()) if isinstance(d.get("message"), dict)]
    chat = [a for a in access if a["route"] == "/v1/chat/completions"]
    assert len(chat) == 3, "the SDK did not retry (x-should-retry: false)"


def test_accounts_with_models_as_a_string_on_the_messages_function() -> None:
    accounts = json.dumps([{**ACCOUNT, "models": "qwen3-max"}])
    function = Function(
        "messages", lambda_env("qwen-messages", STORE_URL="memory://", QWEN_ACCOUNTS=accounts)
    )
    try:
        client = anthropic.Anthropic(
            base_url=function.url, api_key="k", max_retries=0, default_headers=FORWARDED
        )
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(
                model="qwen3-max", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        output = function.output()
    assert info.value.status_code == 503
    message = info.value.body["error"]["message"]  # type: ignore[index]
    assert "QWEN_ACCOUNTS" in message and "`models` must be a list" in message
    assert "pw-not-shown" not in message and "pw-not-shown" not in output


def test_the_buffered_meta_handler_answers_the_same_way() -> None:
    env = lambda_env("qwen-meta", STORE_URL="memory://", QWEN_ACCOUNTS="[{not json")
    result = invoke("meta", [http_api_event("GET", "/health"), http_api_event("GET", "/v1/models")], env)
    health, models = result["responses"]
    assert health["statusCode"] == 200
    assert models["statusCode"] == 503
    assert "QWEN_ACCOUNTS" in body_json(models)["error"]["message"]


@pytest.mark.parametrize("host", ["lambda", "vercel"])
@pytest.mark.parametrize("debug", ["1", "0"])
def test_debug_raises_the_log_level(emulator: Service, host: str, debug: str) -> None:
    settings = {
        "STORE_URL": "memory://",
        "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 1)),
        "DEBUG": debug,
    }
    env = (
        lambda_env("qwen-chat", **settings)
        if host == "lambda"
        else clean_env(VERCEL="1", ALLOW_ANONYMOUS="true", **settings)
    )
    function = Function("chat", env)
    try:
        client = openai.OpenAI(
            base_url=f"{function.url}/v1", api_key="k", max_retries=0, default_headers=FORWARDED
        )
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        output = function.output()
    assert reply.choices[0].message.content == "hi"
    debug_lines = [line for line in output.splitlines() if "DEBUG qwen_server" in line]
    if debug == "1":
        assert any(
            "runtime ready: 1 account(s) from QWEN_ACCOUNTS, store memory" in line for line in debug_lines
        )
    else:
        assert debug_lines == []


@pytest.mark.parametrize("host", ["lambda", "vercel"])
def test_a_deployed_streaming_function_without_keys_refuses_the_sdks(emulator: Service, host: str) -> None:
    settings = {"STORE_URL": "memory://", "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 1))}
    if host == "lambda":
        env = lambda_env("qwen-messages", ALLOW_ANONYMOUS="false", **settings)
    else:
        env = clean_env(VERCEL="1", **settings)
    function = Function("messages", env)
    try:
        client = anthropic.Anthropic(
            base_url=function.url, api_key="k", max_retries=0, default_headers=FORWARDED
        )
        with pytest.raises(anthropic.AuthenticationError) as info:
            client.messages.create(
                model="qwen3-max", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
        where = "AWS Lambda" if host == "lambda" else "Vercel"
        assert where in info.value.body["error"]["message"]  # type: ignore[index]
    finally:
        function.output()
