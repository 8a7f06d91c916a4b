"""`qwen-server login` and the pool's browser refresh, with the system's Chromium against the emulator's
sign-in page behind its cookie-demanding WAF; and what the command says when there is no Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


def login(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "STORE_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "login", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def walled() -> Iterator[Service]:
    service = start_emulator("--waf", "cookie", accounts=1)
    yield service
    service.stop()


def ask(gateway: Service, text: str) -> str:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=30)
    answer = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": text}])
    return str(answer.choices[0].message.content)


def test_without_chromium_the_command_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "qwen_accounts.json").write_text(json.dumps([{"email": "a@b.c", "password": "pw"}]))
    missing = login(tmp_path, env={"QWEN_CHROMIUM": str(tmp_path / "no-such-browser")})
    assert missing.returncode == 2
    assert "apt-get install chromium" in missing.stdout
    no_path = login(tmp_path, env={"PATH": str(tmp_path)})
    assert no_path.returncode == 2 and "apt-get install chromium" in no_path.stdout


@needs_chromium
def test_login_captures_a_session_that_passes_the_waf(walled: Service, tmp_path: Path) -> None:
    accounts_file = tmp_path / "qwen_accounts.json"
    entry = {**emulator_accounts(walled, 1)[0], "max_concurrent": 2}
    accounts_file.write_text(json.dumps([entry]))
    result = login(tmp_path, "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads(accounts_file.read_text())[0]
    cookies = dict(p.split("=", 1) for p in saved["cookie"].split("; "))
    assert {"token", "acw_sc__v2"} <= cookies.keys(), "the page script's cookie and the session token"
    assert saved["password"] == "password0" and saved["max_concurrent"] == 2, "other fields are kept"
    assert cookies["token"] not in result.stdout and "password0" not in result.stdout
    assert httpx.get(f"{walled.url}/_emulator/waf", timeout=30).json()["challenged"] >= 1
    gateway = start_gateway({"QWEN_ACCOUNTS_FILE": str(accounts_file)})
    try:
        assert ask(gateway, "signed in by a browser") == "signed in by a browser"
    finally:
        gateway.stop()


@needs_chromium
def test_the_pool_refreshes_a_session_the_waf_rejects(walled: Service, tmp_path: Path) -> None:
    accounts = emulator_accounts(walled, 1, browser_login=True)
    gateway = start_gateway({"STORE_URL": f"sqlite:///{tmp_path / 'state.db'}"}, accounts=accounts)
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            ask(gateway, "first")
        assert "bot protection" in str(refused.value.body)
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline and answer is None:
            time.sleep(1)
            try:
                answer = ask(gateway, "after the refresh")
            except openai.APIStatusError:
                continue
        assert answer == "after the refresh", gateway.log()[-2000:]
        assert "fresh browser session in use" in gateway.log()
    finally:
        gateway.stop()
