"""Nothing secret leaves the gateway: a sweep over both APIs and both SDKs, answers and errors alike.

The gateway is configured with known secrets (passwords, a token, API keys, account names and e-mails, the
upstream hosts), and the upstreams are made to put those very values into their error messages. Every response
body and header the clients receive is searched for them, and so is the gateway's log file (there, for the
credentials and the hosts: the operator's log may name an account).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, directive, start_emulator, start_fake_openai, start_gateway

GOOD_KEY = "sk-leaktest-GOODKEY-" + uuid.uuid4().hex
WRONG_KEY = "sk-leaktest-WRONGKEY-" + uuid.uuid4().hex
PASSWORDS = ["password0", "password1"]


class Sweep:
    def __init__(self, gateway: Service, client_secrets: list[str], log_secrets: list[str]) -> None:
        self.gateway = gateway
        self.client_secrets = client_secrets
        self.log_secrets = log_secrets
        self.seen: list[tuple[str, str]] = []  # (what, text) of every body and header block received

    def keep(self, what: str, response: httpx.Response) -> None:
        self.seen.append((what, "\n".join(f"{k}: {v}" for k, v in response.headers.items())))
        self.seen.append((what, response.text))

    def post(self, what: str, path: str, body: Any, **headers: str) -> httpx.Response:
        response = httpx.post(self.gateway.url + path, json=body, headers=headers, timeout=60)
        self.keep(what, response)
        return response

    def leaks(self) -> list[str]:
        found = [
            f"{what}: {secret!r}"
            for what, text in self.seen
            for secret in self.client_secrets
            if secret in text
        ]
        log = self.gateway.log()
        found += [f"log: {secret!r}" for secret in self.log_secrets if secret in log]
        return found


@pytest.fixture(scope="module")
def sweep() -> Iterator[Sweep]:
    emulator = start_emulator("--seed", "5", accounts=3)
    fake = start_fake_openai("--api-key", GOOD_KEY, "--models", "fake-model", "--models", "locked-model")
    signin = httpx.post(
        f"{emulator.url}/api/v1/auths/signin",
        json={"email": "user2@emulator.local", "password": hashlib.sha256(b"password2").hexdigest()},
        timeout=10,
    )
    token = signin.json()["token"]
    accounts = [
        {
            "email": "user0@emulator.local",
            "password": PASSWORDS[0],
            "base_url": emulator.url,
            "name": "alpha-acct",
        },
        {
            "email": "user1@emulator.local",
            "password": PASSWORDS[1],
            "base_url": emulator.url,
            "name": "beta-acct",
        },
        {"token": token, "base_url": emulator.url, "name": "gamma-acct"},
        {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key": GOOD_KEY, "models": ["fake-model"]},
        {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key": WRONG_KEY, "models": ["locked-model"]},
    ]
    gateway = start_gateway({"DEBUG": "true"}, accounts=accounts)
    hosts = [f"127.0.0.1:{emulator.port}", f"127.0.0.1:{fake.port}"]
    credentials = [*PASSWORDS, token, GOOD_KEY, WRONG_KEY, WRONG_KEY[-12:], GOOD_KEY[-12:]]
    identities = ["user0@emulator.local", "user1@emulator.local", "alpha-acct", "beta-acct", "gamma-acct"]
    context = {"token": token, "host": hosts[0]}
    yield_sweep = Sweep(gateway, [*credentials, *hosts, *identities], [*credentials, *hosts])
    yield_sweep.context = context  # type: ignore[attr-defined]
    yield yield_sweep
    gateway.stop()
    fake.stop()
    emulator.stop()


def _leaky(sweep: Sweep) -> str:
    """Upstream error text carrying every kind of secret the gateway must not pass on."""
    ctx: dict[str, str] = sweep.context  # type: ignore[attr-defined]
    return (
        f"reading /srv/qwen/conf/secrets.toml via {ctx['host']} for user0@emulator.local (alpha-acct), "
        f"key {WRONG_KEY[:6]}***{WRONG_KEY[-4:]}, upstream http://{ctx['host']}/api/v2, bad token {ctx['token']}"
    )


def test_the_sweep_finds_nothing(sweep: Sweep) -> None:
    leaky = _leaky(sweep)
    chat: Any = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hello"}]}
    anth: Any = {**chat, "model": "claude-opus-4-1", "max_tokens": 64}
    av = {"anthropic-version": "2023-06-01"}
    # the SDKs' answers first (the scripted errors below put the web accounts into cooldown)
    oa = openai.OpenAI(base_url=f"{sweep.gateway.url}/v1", api_key="k", max_retries=0)
    raw = oa.chat.completions.with_raw_response.create(model="qwen3-max", messages=chat["messages"])
    sweep.keep("openai sdk", raw.http_response)
    an = anthropic.Anthropic(base_url=sweep.gateway.url, api_key="k", max_retries=0)
    with an.messages.with_streaming_response.create(
        model="claude-opus-4-1", max_tokens=64, messages=anth["messages"], stream=True
    ) as streamed:
        streamed.read()
        sweep.keep("anthropic sdk stream", streamed.http_response)
    for stream in (False, True):
        sweep.post("openai answer", "/v1/chat/completions", {**chat, "stream": stream})
        sweep.post("anthropic answer", "/v1/messages", {**anth, "stream": stream}, **av)
        sweep.post("native answer", "/v1/chat/completions", {**chat, "model": "fake-model", "stream": stream})
        sweep.post("refused key", "/v1/chat/completions", {**chat, "model": "locked-model", "stream": stream})
        for error in ("bad_request", "429", "in_stream", "500"):
            content = "hi " + directive(reply="some partial answer text here", error=error, details=leaky)
            messages = [{"role": "user", "content": content}]
            openai_reply = sweep.post(
                f"openai {error}", "/v1/chat/completions", {**chat, "messages": messages, "stream": stream}
            )
            assert openai_reply.status_code in (200, 400, 429, 502)
            sweep.post(
                f"anthropic {error}", "/v1/messages", {**anth, "messages": messages, "stream": stream}, **av
            )
    sweep.post(
        "count", "/v1/messages/count_tokens", {k: v for k, v in anth.items() if k != "max_tokens"}, **av
    )
    sweep.post("malformed", "/v1/chat/completions", {"model": 3})
    sweep.post("unknown model", "/v1/chat/completions", {**chat, "model": "no-such-model"})
    for path in ("/v1/models", "/health", "/v1/models/qwen3-max", "/nope"):
        sweep.keep(path, httpx.get(sweep.gateway.url + path, timeout=30))

    for model, content in (
        ("qwen3-max", directive(error="bad_request", details=leaky)),
        ("locked-model", "hi"),
    ):
        with pytest.raises(openai.APIStatusError) as info:
            oa.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
        sweep.keep(f"openai sdk error {model}", info.value.response)
    with pytest.raises(anthropic.APIStatusError) as refused:
        an.messages.create(
            model="claude-opus-4-1",
            max_tokens=64,
            messages=[{"role": "user", "content": directive(error="429", details=leaky)}],
        )
    sweep.keep("anthropic sdk error", refused.value.response)

    assert sweep.leaks() == []
    # and the sweep saw the upstream's errors, cleaned, rather than nothing at all
    bodies = "\n".join(text for _, text in sweep.seen)
    for marker in ("[path]", "[redacted]", "[key]", "[url]"):
        assert marker in bodies, marker
