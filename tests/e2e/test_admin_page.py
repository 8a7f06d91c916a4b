"""The operator's dashboard at GET /admin, in a real browser: Playwright driving the system's Chromium against
the gateway process, with two accounts on the emulator process. The admin views it reads (queues, usage over
the last hour and day, recent upstream errors) are checked over HTTP too."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.processes import Service, directive, emulator_accounts, start_emulator, start_gateway

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_KEY = "admin-key-for-the-page"
CLIENT_KEY = "client-key-alpha"
WAIT_MS = 20_000  # generous: a loaded 2-core machine


def tenant(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "27", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway(
        {"ADMIN_API_KEYS": ADMIN_KEY, "GATEWAY_API_KEYS": CLIENT_KEY}, accounts=emulator_accounts(emulator, 2)
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Tab:
    """One browser tab with what it logged and every request it sent (URL and Authorization header)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[tuple[str, str | None]] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append((r.url, r.headers.get("authorization"))))
        self.page.set_default_timeout(WAIT_MS)

    def sign_in(self, key: str) -> None:
        self.page.fill("#key", key)
        self.page.press("#key", "Enter")

    def act(self, account: str, action: str, *, accept: bool = True) -> str:
        """Click an account's button, answer its confirmation, and return the outcome the page shows."""
        self.page.once("dialog", lambda d: d.accept() if accept else d.dismiss())
        self.page.evaluate("document.getElementById('outcome').textContent = ''")
        self.page.click(f'tr[data-account="{account}"] button[data-action="{action}"]')
        self.page.wait_for_function("() => document.getElementById('outcome').textContent !== ''")
        return str(self.page.text_content("#outcome"))

    def state_shown(self, account: str) -> str:
        return str(self.page.get_attribute(f'tr[data-account="{account}"]', "data-state"))

    def wait_state(self, account: str, state: str) -> None:
        self.page.wait_for_selector(f'tr[data-account="{account}"][data-state="{state}"]')

    def close(self) -> None:
        self.context.close()


def api_states(gateway: Service) -> dict[str, str]:
    listing = httpx.get(
        f"{gateway.url}/admin/accounts", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    ).json()
    return {row["name"]: row["state"] for row in listing["data"]}


def ask(gateway: Service, text: str, model: str = "qwen3-max") -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


def enable_all(gateway: Service) -> None:
    """Both accounts back in rotation (a WAF page cools one down for a few seconds; with two accounts, the
    next scripted failure would find no other account to fail over to)."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for row in httpx.get(f"{gateway.url}/admin/accounts", headers=admin, timeout=10).json()["data"]:
        httpx.post(f"{gateway.url}/admin/accounts/{row['id']}/enable", headers=admin, timeout=10).raise_for_status()


def wait_for(check: Any, seconds: float = 20.0) -> Any:
    """`check()` once it answers something truthy, polled until a generous deadline."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


# ---- over HTTP -----------------------------------------------------------------------------------------
def test_the_page_and_its_assets_carry_strict_headers(gateway: Service) -> None:
    page = httpx.get(f"{gateway.url}/admin", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert 'data-keys="set"' in html and 'type="password"' in html
    assert "<script>" not in html and "style=" not in html, "no inline code: the policy would refuse it"
    assert 'src="admin/assets/admin.js"' in html and 'href="admin/assets/admin.css"' in html, "relative"
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", ""), "no CDN"
    for path, kind in (("admin.css", "text/css"), ("admin.js", "text/javascript")):
        asset = httpx.get(f"{gateway.url}/admin/assets/{path}", timeout=10)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert asset.headers["x-content-type-options"] == "nosniff"
    script = httpx.get(f"{gateway.url}/admin/assets/admin.js", timeout=10).text
    assert "innerHTML" not in script and "localStorage" not in script and "sessionStorage" in script


def test_the_admin_views_need_an_admin_key(gateway: Service) -> None:
    for path in ("/admin/queues", "/admin/usage/recent", "/admin/errors"):
        assert httpx.get(f"{gateway.url}{path}", timeout=10).status_code == 401, path
        client = {"Authorization": f"Bearer {CLIENT_KEY}"}
        refused = httpx.get(f"{gateway.url}{path}", headers=client, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_key_required", path
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    queues = httpx.get(f"{gateway.url}/admin/queues", headers=admin, timeout=10).json()
    assert {"chat", "media", "aux", "batch"} <= set(queues["classes"])
    assert {"queued", "in_flight", "limit", "local_oldest_wait_s"} <= set(queues["classes"]["chat"])


def test_usage_and_upstream_errors_reach_the_admin_views(gateway: Service) -> None:
    enable_all(gateway)
    ask(gateway, "first " + directive(reply="after a server error", error="500", times=1))
    ask(gateway, "second " + directive(reply="after a WAF page", error="waf", times=1))
    with pytest.raises(openai.NotFoundError):
        ask(gateway, "hello", model="no-such-model")  # an error answer, counted against the key
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    notes = httpx.get(f"{gateway.url}/admin/errors", headers=admin, timeout=10).json()["data"]
    by_diagnosis = {note["diagnosis"]: note for note in notes}
    assert {"waf", "server"} <= set(by_diagnosis), notes
    waf = by_diagnosis["waf"]
    assert waf["account"] in {"emu0", "emu1"} and waf["doctor"] == f"qwen-server doctor --account {waf['account']}"
    assert "bot protection" in waf["hint"] and waf["label"].startswith("WAF")


    def usage() -> httpx.Response | None:
        answer = httpx.get(f"{gateway.url}/admin/usage/recent", headers=admin, timeout=10)
        rows = {row["tenant"]: row for row in answer.json()["hour"]["data"]}
        return answer if rows.get(tenant(CLIENT_KEY), {}).get("errors") else None

    recent = wait_for(usage)
    assert recent is not None, "the error answer was not counted"
    mine = next(row for row in recent.json()["hour"]["data"] if row["tenant"] == tenant(CLIENT_KEY))
    assert mine["requests"] >= 3 and mine["output_tokens"] > 0 and mine["errors"] >= 1
    assert {row["tenant"] for row in recent.json()["day"]["data"]} >= {tenant(CLIENT_KEY)}
    body = recent.text + json.dumps(notes)
    for secret in (CLIENT_KEY, ADMIN_KEY, "password0", "password1", "user0@emulator.local"):
        assert secret not in body, secret


# ---- in the browser ------------------------------------------------------------------------------------
@needs_chromium
def test_sign_in_shows_the_pool_and_disable_enable_follow_it(gateway: Service, browser: Any) -> None:
    enable_all(gateway)
    ask(gateway, "browser " + directive(reply="after a WAF page", error="waf", times=1))
    tab = Tab(browser)
    page = tab.page
    try:
        page.goto(f"{gateway.url}/admin")
        assert page.is_visible("#signin") and not page.is_visible("#dashboard")
        assert page.get_attribute("#key", "type") == "password"
        tab.sign_in(ADMIN_KEY)
        page.wait_for_selector('tr[data-account="emu0"]')
        page.wait_for_selector('tr[data-account="emu1"]')
        assert page.locator("#accounts tbody tr").count() == 2
        assert page.locator('tr[data-account="emu0"] svg.bar').count() == 3, "slots, success, latency bars"
        page.wait_for_selector(f'#usage tr[data-tenant="{tenant(CLIENT_KEY)}"]')
        page.wait_for_selector('#errors li[data-diagnosis="waf"]')
        assert "qwen-server doctor --account" in str(page.text_content("#errors"))
        assert page.locator('#queues tr[data-class="chat"]').count() == 1

        assert "emu0 is disabled" in tab.act("emu0", "disable")
        tab.wait_state("emu0", "disabled")
        assert api_states(gateway)["emu0"] == "disabled"
        assert page.is_visible('tr[data-account="emu0"] button[data-action="enable"]')
        assert "emu0 is enabled" in tab.act("emu0", "enable")
        tab.wait_state("emu0", "ok")
        assert api_states(gateway)["emu0"] == "ok"

        assert "Cancelled" in tab.act("emu1", "disable", accept=False)
        assert api_states(gateway)["emu1"] != "disabled"
        assert "the credential was accepted" in tab.act("emu1", "probe")
        tab.page.once("dialog", lambda d: d.accept())
        page.click("#reload")
        page.wait_for_function("() => document.getElementById('outcome').textContent.startsWith('Reloaded')")
        assert "Reloaded 2 account(s)" in str(page.text_content("#outcome"))

        # the page follows the pool without being reloaded: a change made elsewhere shows within seconds
        httpx.post(
            f"{gateway.url}/admin/accounts/{page.get_attribute('tr[data-account=emu1]', 'data-account-id')}/disable",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            json={"reason": "changed by another operator"},
            timeout=10,
        ).raise_for_status()
        tab.wait_state("emu1", "disabled")
        assert "changed by another operator" in str(page.text_content('tr[data-account="emu1"]'))
        tab.act("emu1", "enable")
        tab.wait_state("emu1", "ok")

        page.reload()  # the key stays in the tab's session storage, and only there
        page.wait_for_selector('tr[data-account="emu0"]')
        assert page.evaluate("sessionStorage.getItem('qwen-admin-key')") == ADMIN_KEY
        assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
        with_key = [url for url, auth in tab.requests if auth is not None]
        assert with_key and all(url.startswith(f"{gateway.url}/admin/") for url in with_key)
        assert {auth for _, auth in tab.requests if auth is not None} == {f"Bearer {ADMIN_KEY}"}
        assert all(auth is None for url, auth in tab.requests if url.split("?")[0].endswith(("/admin", ".js", ".css")))

        page.click("#signout")
        page.wait_for_selector("#signin", state="visible")
        assert page.evaluate("sessionStorage.length") == 0 and page.locator("#accounts tbody tr").count() == 0
        assert tab.problems == [], tab.problems
    finally:
        tab.close()


@needs_chromium
@pytest.mark.parametrize("key", ["not-the-admin-key", CLIENT_KEY])
def test_a_wrong_key_shows_nothing_of_the_pool(gateway: Service, browser: Any, key: str) -> None:
    tab = Tab(browser)
    page = tab.page
    try:
        page.goto(f"{gateway.url}/admin")
        tab.sign_in(key)
        page.wait_for_selector("#signin-error", state="visible")
        assert "refused" in str(page.text_content("#signin-error"))
        assert not page.is_visible("#dashboard") and page.locator("#accounts tbody tr").count() == 0
        text = str(page.text_content("body"))
        assert "emu0" not in text and "emu1" not in text and "key-" not in text
        assert page.evaluate("sessionStorage.length") == 0
        # the browser reports the refused call (403) itself; nothing else may go wrong
        assert all("403" in problem for problem in tab.problems), tab.problems
    finally:
        tab.close()


class StageProxy:
    """Stands in for the REST API's stage: serves the gateway under /prod/ (the app sees the path without
    it, as on AWS) and answers 403 outside it, so the page must use URLs relative to itself."""

    def __init__(self, upstream: str) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            def do_POST(self) -> None:
                proxy.forward(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.upstream = upstream
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        if not handler.path.startswith("/prod/"):
            handler.send_response(403)
            handler.end_headers()
            return
        length = int(handler.headers.get("content-length") or 0)
        sent = {k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "content-type")}
        answer = httpx.request(
            handler.command,
            self.upstream + handler.path[len("/prod") :],
            headers=sent,
            content=handler.rfile.read(length) if length else None,
            timeout=30,
        )
        handler.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                handler.send_header(name, value)
        handler.send_header("content-length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@needs_chromium
def test_the_page_works_behind_a_stage_prefix(gateway: Service, browser: Any) -> None:
    proxy = StageProxy(gateway.url)
    tab = Tab(browser)
    try:
        tab.page.goto(f"{proxy.url}/prod/admin")
        tab.sign_in(ADMIN_KEY)
        tab.page.wait_for_selector('tr[data-account="emu1"]')
        assert "emu1 is disabled" in tab.act("emu1", "disable")
        assert api_states(gateway)["emu1"] == "disabled"
        assert "emu1 is enabled" in tab.act("emu1", "enable")
        assert api_states(gateway)["emu1"] == "ok"
        assert all(url.startswith(f"{proxy.url}/prod/admin") for url, _ in tab.requests), tab.requests
        assert tab.problems == [], tab.problems
    finally:
        tab.close()
        proxy.close()


@needs_chromium
def test_without_admin_keys_the_page_says_how_to_set_one(emulator: Service, browser: Any) -> None:
    closed = start_gateway({"GATEWAY_API_KEYS": CLIENT_KEY}, accounts=emulator_accounts(emulator, 2))
    tab = Tab(browser)
    try:
        tab.page.goto(f"{closed.url}/admin")
        tab.page.wait_for_selector("#no-keys", state="visible")
        assert "ADMIN_API_KEYS" in str(tab.page.text_content("#no-keys"))
        assert not tab.page.is_visible("#signin") and not tab.page.is_visible("#dashboard")
        assert [url for url, _ in tab.requests if "/admin/" in url and "/assets/" not in url] == [], "no API call"
        assert tab.problems == [], tab.problems
    finally:
        tab.close()
        closed.stop()
