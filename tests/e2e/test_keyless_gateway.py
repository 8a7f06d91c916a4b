"""A gateway without GATEWAY_API_KEYS: it cannot be driven by a web page (requests naming a foreign `Host`, DNS
rebinding, requests from a foreign `Origin` and `text/plain` bodies on JSON routes are refused in the API's
shape and never reach an account) while the SDKs keep working; a request through a reverse proxy counts as
exposed; every caller, whatever key they make up, is one shared tenant. Raw HTTP (httpx) and the SDKs against
the gateway and the emulator as their own processes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, emulator_stats, start_emulator, start_gateway

CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "5", accounts=1)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def keyless(emulator: Service) -> Iterator[Service]:
    service = start_gateway(accounts=emulator_accounts(emulator, 1))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def listed(emulator: Service) -> Iterator[Service]:
    """Keyless, but with a host name, a browser origin and anonymous use (behind a proxy) allowed."""
    service = start_gateway(
        {
            "ALLOWED_HOSTS": "gateway.internal",
            "CORS_ORIGINS": "http://app.example",
            "ALLOW_ANONYMOUS": "true",
        },
        accounts=emulator_accounts(emulator, 1),
    )
    yield service
    service.stop()


def completed(emulator: Service) -> int:
    return int(emulator_stats(emulator)["completed"])


def post(gateway: Service, path: str, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}{path}",
        content=json.dumps(body),
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:80", "rebind.example.com.", "10.0.0.7"]
)
def test_a_foreign_host_is_refused_before_any_account_is_used(
    keyless: Service, emulator: Service, host: str
) -> None:
    before = completed(emulator)
    chat = post(keyless, "/v1/chat/completions", CHAT, host=host)
    assert chat.status_code == 403, chat.text
    assert chat.json()["error"]["type"] == "permission_error"
    assert chat.json()["error"]["code"] == "host_not_allowed"
    assert "ALLOWED_HOSTS" in chat.json()["error"]["message"]
    message = post(keyless, "/v1/messages", MESSAGE, host=host, **{"anthropic-version": "2023-06-01"})
    assert message.status_code == 403
    assert message.json()["type"] == "error" and message.json()["error"]["type"] == "permission_error"
    files = httpx.get(f"{keyless.url}/v1/files", headers={"host": host}, timeout=10)
    assert files.status_code == 403
    assert completed(emulator) == before
    # liveness probes name whatever host they like
    assert httpx.get(f"{keyless.url}/health", headers={"host": host}, timeout=10).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST."])
def test_loopback_names_are_served(keyless: Service, host: str) -> None:
    port = keyless.port
    answer = post(keyless, "/v1/chat/completions", CHAT, host=f"{host}:{port}")
    assert answer.status_code == 200, answer.text


def test_a_cross_site_text_plain_post_is_refused(keyless: Service, emulator: Service) -> None:
    """What a page's `fetch(url, {method: "POST", body})` or a `<form enctype="text/plain">` sends."""
    before = completed(emulator)
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGE)):
        cross = httpx.post(
            f"{keyless.url}{path}",
            content=json.dumps(body),
            headers={"content-type": "text/plain;charset=UTF-8", "origin": "https://evil.example"},
            timeout=30,
        )
        assert cross.status_code == 403, cross.text
        error = cross.json()["error"]
        assert error["type"] == "permission_error" and "CORS_ORIGINS" in error["message"]
        if path == "/v1/messages":
            assert cross.json()["type"] == "error"
        else:
            assert error["code"] == "origin_not_allowed"
        # the same body without an Origin (a browser that strips it): the content type alone refuses it
        plain = httpx.post(
            f"{keyless.url}{path}",
            content=json.dumps(body),
            headers={"content-type": "text/plain"},
            timeout=30,
        )
        assert plain.status_code == 415, plain.text
        assert "application/json" in plain.json()["error"]["message"]
    form = httpx.post(
        f"{keyless.url}/v1/chat/completions", data={"model": "qwen3-max"}, timeout=30
    )  # application/x-www-form-urlencoded
    assert form.status_code == 415
    null_origin = post(keyless, "/v1/chat/completions", CHAT, origin="null")  # a sandboxed frame, a file:
    assert null_origin.status_code == 403
    for unparsable in ("http://[", "http://[::1"):  # not a URL at all: refused, not a 500
        odd = post(keyless, "/v1/chat/completions", CHAT, origin=unparsable)
        assert odd.status_code == 403 and odd.json()["error"]["code"] == "origin_not_allowed", odd.text
    upload = httpx.post(
        f"{keyless.url}/v1/files",
        files={"file": ("a.jsonl", b"{}\n")},
        data={"purpose": "batch"},
        headers={"origin": "https://evil.example"},
        timeout=30,
    )
    assert upload.status_code == 403
    assert completed(emulator) == before


def test_the_gateways_own_origin_and_the_sdks_are_served(keyless: Service) -> None:
    same = post(keyless, "/v1/chat/completions", CHAT, origin=keyless.url)
    assert same.status_code == 200, same.text
    oai = openai.OpenAI(base_url=f"{keyless.url}/v1", api_key="anything", max_retries=0)
    assert (
        oai.chat.completions.create(model="qwen3-max", messages=CHAT["messages"]).choices[0].message.content
    )  # type: ignore[arg-type]
    assert oai.models.list().data
    claude = anthropic.Anthropic(base_url=keyless.url, api_key="anything", max_retries=0)
    reply = claude.messages.create(**MESSAGE)  # type: ignore[arg-type]
    assert reply.content[0].text  # type: ignore[union-attr]
    uploaded = oai.files.create(file=("a.jsonl", b'{"a": 1}\n'), purpose="batch")
    assert oai.files.retrieve(uploaded.id).bytes == 9


def test_a_request_through_a_reverse_proxy_counts_as_exposed(keyless: Service) -> None:
    """On the same host a proxy connects from 127.0.0.1; its forwarding headers say the client is elsewhere."""
    for header in (
        {"x-forwarded-for": "203.0.113.9"},
        {"forwarded": "for=203.0.113.9;proto=https"},
        {"x-real-ip": "203.0.113.9"},
    ):
        answer = post(keyless, "/v1/chat/completions", CHAT, **header)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "gateway_keys_required"
        assert "reverse proxy" in answer.json()["error"]["message"]
    message = post(keyless, "/v1/messages", MESSAGE, **{"x-forwarded-for": "203.0.113.9"})
    assert message.status_code == 401 and message.json()["error"]["type"] == "authentication_error"


def test_allowed_hosts_cors_origins_and_anonymous_use_open_what_they_name(listed: Service) -> None:
    named = post(
        listed,
        "/v1/chat/completions",
        CHAT,
        host="gateway.internal",
        origin="http://app.example",
        **{"x-forwarded-for": "203.0.113.9"},
    )
    assert named.status_code == 200, named.text
    assert named.headers["access-control-allow-origin"] == "http://app.example"
    preflight = httpx.options(
        f"{listed.url}/v1/chat/completions",
        headers={
            "origin": "http://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    other = post(listed, "/v1/chat/completions", CHAT, host="other.internal")
    assert other.status_code == 403 and other.json()["error"]["code"] == "host_not_allowed"
    foreign = post(listed, "/v1/chat/completions", CHAT, origin="http://evil.example")
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_not_allowed"


def test_with_gateway_keys_the_key_is_the_guard(emulator: Service) -> None:
    keyed = start_gateway({"GATEWAY_API_KEYS": "k1"}, accounts=emulator_accounts(emulator, 1))
    try:
        answer = httpx.post(
            f"{keyed.url}/v1/chat/completions",
            content=json.dumps(CHAT),
            headers={"authorization": "Bearer k1", "host": "gateway.example", "origin": "https://x.example"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        without = post(keyed, "/v1/chat/completions", CHAT, origin="https://x.example")
        assert without.status_code == 401
    finally:
        keyed.stop()


def test_keyless_callers_share_one_documented_tenant(keyless: Service) -> None:
    """A made-up key is not an identity: two callers with different keys see the same files, as the README
    says, and the access log names the one shared tenant instead of a hash of each key."""
    ann = openai.OpenAI(base_url=f"{keyless.url}/v1", api_key="ann-made-this-up", max_retries=0)
    bob = openai.OpenAI(base_url=f"{keyless.url}/v1", api_key="bob-too", max_retries=0)
    uploaded = ann.files.create(file=("shared.jsonl", b'{"n": 1}\n'), purpose="batch")
    assert uploaded.id in {f.id for f in bob.files.list()}
    assert bob.files.content(uploaded.id).content == b'{"n": 1}\n'
    nobody = httpx.get(f"{keyless.url}/v1/files/{uploaded.id}", timeout=10)  # no key at all: the same tenant
    assert nobody.status_code == 200
    tenants = {
        json.loads(line).get("tenant")
        for line in keyless.log().splitlines()
        if line.startswith("{") and '"route": "/v1/files"' in line.replace('":"', '": "')
    }
    assert tenants == {"anonymous"}, tenants
