"""The old-client refusal recognised in every shape it arrives in, the web app's version read from its page, and
the learned version shared through the store (pure parts, `httpx.MockTransport`, an in-process emulator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from qwen_server.core.errors import UpstreamAuthError, UpstreamClientOutdated
from qwen_server.emulator.app import build_app
from qwen_server.emulator.config import EmulatorConfig
from qwen_server.pool import health
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.qwen_web import outdated, protocol, wire
from qwen_server.providers.qwen_web.auth import TokenManager
from qwen_server.providers.qwen_web.client_version import LEARNED, ClientVersions
from qwen_server.providers.qwen_web.outdated import AnswerWatch, Finding
from qwen_server.providers.qwen_web.provider import QwenWebProvider
from qwen_server.providers.qwen_web.version_discovery import discover
from qwen_server.store.memory import MemoryStore

ZH = "你正在使用较早版本，为了获得更好的对话体验，请升级至最新版。"  # noqa: RUF001 (the upstream's punctuation)
EN = "You are using an older version. Please upgrade to the latest version for a better chat experience."
BASE = "https://chat.example"


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    protocol.configure(None)


def answer_events(text: str, state: wire.StreamState, piece: int = 4) -> list[object]:
    events: list[object] = []
    for at in range(0, len(text), piece):
        delta = {"content": text[at : at + piece], "phase": "answer", "status": "typing"}
        events += wire.parse_event({"choices": [{"delta": delta}]}, state)
    finished = {"content": "", "phase": "answer", "status": "finished"}
    return events + wire.parse_event({"choices": [{"delta": finished}]}, state)


# ---- recognised wherever it arrives -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"success": False, "code": "Bad_Request", "details": ZH},
        {"success": False, "data": {"code": "Bad_Request", "details": ZH}},
        {"error": {"code": "Bad_Request", "details": EN}},
    ],
)
def test_the_refusal_as_json_or_an_sse_error_frame_is_client_outdated(payload: dict[str, object]) -> None:
    with pytest.raises(UpstreamClientOutdated) as refused:
        wire.parse_event(payload, wire.StreamState())
    message = refused.value.message
    assert "client version too old" in message and "QWEN_PROTOCOL_OVERRIDES" in message
    assert "version in force: 0.2.0, from protocol.json" in message
    assert health.classify(refused.value) is health.FailureKind.NEUTRAL, "never a strike or a cooldown"
    assert refused.value.gave_up and not refused.value.retryable


def test_an_http_error_answer_carrying_it_is_client_outdated_whatever_the_status() -> None:
    body = json.dumps({"detail": ZH}).encode()  # `\u` escapes, as a JSON encoder may send it
    assert "\\u" in body.decode()
    assert isinstance(wire.classify_response(403, body, {}), UpstreamClientOutdated)
    assert isinstance(wire.classify_response(400, body, {}), UpstreamClientOutdated)


@pytest.mark.parametrize("text", [ZH, EN, "  " + ZH])
def test_the_refusal_as_answer_text_is_never_served(text: str) -> None:
    state = wire.StreamState()
    with pytest.raises(UpstreamClientOutdated):
        answer_events(text, state)


def test_an_ordinary_answer_is_released_at_its_first_piece() -> None:
    state = wire.StreamState()
    first = wire.parse_event({"choices": [{"delta": {"content": "Sure", "phase": "answer"}}]}, state)
    assert [getattr(e, "text", None) for e in first] == ["Sure"], "no answer waits on the watch"


def test_a_held_prefix_that_turns_out_ordinary_is_released_whole() -> None:
    state = wire.StreamState()
    events = answer_events("You are using Python 3.11, which is fine.", state, piece=3)
    assert "".join(getattr(e, "text", "") for e in events) == "You are using Python 3.11, which is fine."


def test_a_long_answer_that_starts_like_the_refusal_is_an_answer() -> None:
    text = "You are using an older version of pip. " + "Upgrade it with `pip install -U pip`. " * 10
    events = answer_events(text, wire.StreamState(), piece=7)
    assert "".join(getattr(e, "text", "") for e in events) == text


def test_a_prompt_that_quotes_the_refusal_turns_the_watch_off() -> None:
    state = wire.StreamState(watch=AnswerWatch(enabled=not outdated.is_refusal(f"translate: {ZH}")))
    events = answer_events(ZH, state)
    assert "".join(getattr(e, "text", "") for e in events) == ZH


def test_the_explanation_names_what_to_set() -> None:
    found = outdated.explain("0.2.0", "from protocol.json", Finding("0.2.66", "/static/js/umi.js"))
    assert "the web app sends 0.2.66 today" in found
    assert """QWEN_PROTOCOL_OVERRIDES='{"headers": {"version": "0.2.66"}}'""" in found
    unreadable = outdated.explain("0.2.0", "from protocol.json", Finding(None, reason="the page: HTTP 403"))
    assert "could not be read (the page: HTTP 403)" in unreadable and "<the version the web app sends>" in unreadable
    retried = outdated.explain("0.2.66", LEARNED, Finding("0.2.66", "/x.js"), retried=True)
    assert "tried and refused too" in retried and "version in force: 0.2.66, learned from" in retried


# ---- protocol.json ------------------------------------------------------------------------------------------
def test_an_override_of_the_version_pins_it_and_discovery_can_be_turned_off() -> None:
    assert not protocol.current().version_pinned
    spec = protocol.configure(json.dumps({"headers": {"version": "0.2.1"}, "version_discovery": None}))
    assert spec.version_pinned and spec.version_source == "set by QWEN_PROTOCOL_OVERRIDES"
    assert spec.discovery is None
    assert not protocol.configure(json.dumps({"headers": {"source": "web"}})).version_pinned


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"version_discovery": {"page": "index.html"}}, "version_discovery.page"),
        ({"version_discovery": {"version_patterns": ["("]}}, "version_discovery.version_patterns"),
        ({"version_discovery": {"version_patterns": ["version"]}}, "one capturing group"),
        ({"version_discovery": {"max_bytes": 0}}, "version_discovery.max_bytes"),
        ({"version_discovery": {"script_hosts": "cdn.example"}}, "version_discovery.script_hosts"),
        ({"message": []}, "`message`"),
    ],
)
def test_unusable_discovery_settings_are_named(patch: dict[str, object], named: str) -> None:
    with pytest.raises(protocol.ProtocolError, match="QWEN_PROTOCOL_OVERRIDES") as caught:
        protocol.load(json.dumps(patch))
    assert named in str(caught.value)


def test_message_fields_of_the_data_file_go_into_every_completion_message() -> None:
    protocol.configure(json.dumps({"message": {"version": "2.1", "project_id": ""}}))
    body = wire.completion_body(chat_id="c", model="m", content="x", thinking=False, thinking_budget=None)
    assert body["messages"][0]["version"] == "2.1" and body["messages"][0]["project_id"] == ""
    protocol.configure(None)
    body = wire.completion_body(chat_id="c", model="m", content="x", thinking=False, thinking_budget=None)
    assert "version" not in body["messages"][0] and "project_id" not in body["messages"][0]


# ---- reading the web app's page -----------------------------------------------------------------------------
PAGE = """<html><head>
<script src="https://cdn.elsewhere/app.js"></script>
<script defer src="/static/vendors.1.js"></script>
<script defer src="/static/umi.2.js?v=1"></script>
</head></html>"""
SCRIPTS = {
    "/static/vendors.1.js": 'var React={version:"18.3.1"};',
    "/static/umi.2.js": 'fetch(u,{headers:{"source":"web","version":"0.2.66"}})',
}


Route = tuple[int, str, dict[str, str]]  # status, body, headers


class Body(httpx.AsyncByteStream):
    """A body that arrives as a stream, as over the network (a `text=` body would be read at once)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def page_answer(status: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, stream=Body(text), headers=headers)


def site(routes: dict[str, Route], seen: list[str]) -> ClientRegistry:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        status, text, headers = routes.get(request.url.path, (404, "", {}))
        return page_answer(status, text, headers)

    return ClientRegistry(transport=httpx.MockTransport(answer))


async def test_discovery_reads_the_app_script_on_the_page_host_only() -> None:
    seen: list[str] = []
    routes: dict[str, Route] = {"/": (200, PAGE, {}), **{p: (200, t, {}) for p, t in SCRIPTS.items()}}
    found = await discover(site(routes, seen).get, BASE, {"Cookie": "token=t", "version": "0.2.0"})
    assert found == Finding("0.2.66", "/static/umi.2.js")
    assert not any("elsewhere" in url for url in seen), "a script on another host is not read"


async def test_discovery_follows_a_redirect_and_says_why_it_found_nothing() -> None:
    seen: list[str] = []
    routes: dict[str, Route] = {
        "/": (302, "", {"location": "/c/new"}),
        "/c/new": (200, '<script src="/static/vendors.1.js"></script>', {}),
        "/static/vendors.1.js": (200, SCRIPTS["/static/vendors.1.js"], {}),
    }
    found = await discover(site(routes, seen).get, BASE, {})
    assert found.version is None and "no version in the page or its 1 script(s)" in found.reason
    refused = await discover(site({"/": (403, "no", {})}, []).get, BASE, {})
    assert refused.version is None and "HTTP 403" in refused.reason


async def test_a_listed_script_host_is_read_and_the_page_headers_are_a_browsers() -> None:
    protocol.configure(json.dumps({"version_discovery": {"script_hosts": ["cdn.elsewhere"]}}))
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.host == "cdn.elsewhere":
            return page_answer(200, 'x={version:"0.2.70",source:"web"}')
        return page_answer(200, PAGE)

    found = await discover(ClientRegistry(transport=httpx.MockTransport(answer)).get, BASE, {"version": "0.2.0"})
    assert found == Finding("0.2.70", "/app.js")
    page = sent[0].headers
    assert page["sec-fetch-mode"] == "navigate" and "version" not in page and "text/html" in page["accept"]


# ---- the learned version, shared through the store ----------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_learned_version_reaches_every_instance_and_an_override_still_wins() -> None:
    store, clock = MemoryStore(), Clock()
    one, two = ClientVersions(store, clock=clock), ClientVersions(store, clock=clock)
    calls: list[int] = []

    async def page() -> Finding:
        calls.append(1)
        return Finding("0.2.66", "/umi.js")

    outcome = await one.relearn(BASE, "0.2.0", page)
    assert outcome.retry_with == "0.2.66" and one.sending(BASE) == ("0.2.66", LEARNED)
    await two.load(BASE)
    assert two.sending(BASE) == ("0.2.66", LEARNED), "another instance reads it from the store"
    assert (await two.relearn(BASE, "0.2.0", page)).retry_with == "0.2.66" and len(calls) == 1
    protocol.configure(json.dumps({"headers": {"version": "0.2.1"}}))
    assert two.sending(BASE) == ("0.2.1", "set by QWEN_PROTOCOL_OVERRIDES")
    pinned = await two.relearn(BASE, "0.2.1", page)
    assert pinned.retry_with is None and pinned.finding == Finding("0.2.66", "/umi.js")


async def test_a_discovery_that_found_nothing_new_stands_a_minute() -> None:
    clock = Clock()
    versions = ClientVersions(MemoryStore(), clock=clock)
    calls: list[int] = []

    async def page() -> Finding:
        calls.append(1)
        return Finding(None, reason="the page: HTTP 403")

    for _ in range(3):
        assert (await versions.relearn(BASE, "0.2.0", page)).retry_with is None
    assert len(calls) == 1
    clock.now += 61
    await versions.relearn(BASE, "0.2.0", page)
    assert len(calls) == 2


# ---- the token check's path, against the emulator in process ------------------------------------------------
async def test_the_token_check_path_keeps_its_trailing_slash() -> None:
    """`paths.whoami` is `/api/v1/auths/`: without the slash the web app (and the emulator) answers 401 to a
    valid token, which would read as a refused credential."""
    assert protocol.current().path("whoami") == "/api/v1/auths/"
    app = build_app(EmulatorConfig(accounts=1))
    clients = ClientRegistry(transport=httpx.ASGITransport(app=app))
    account = Account(
        id="e0", kind="qwen-web", base_url="http://emulator", name="e0",
        email="user0@emulator.local", password="password0",
    )
    web = QwenWebProvider(clients, TokenManager(MemoryStore()), delete_chats=False)
    await web.verify(account)
    protocol.configure(json.dumps({"paths": {"whoami": "/api/v1/auths"}}))
    with pytest.raises(UpstreamAuthError):
        await web.verify(account)
