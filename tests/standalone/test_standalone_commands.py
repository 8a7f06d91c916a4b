"""Every subcommand of the standalone executable, in a user's folder holding only `.env` and
`qwen_accounts.json`: `emulator` as the upstream, `serve` (gateway keys from `.env`), `worker` finishing a
batch that `serve` leaves to it, `doctor`, `login`; plus `--version` and `--licenses`."""

from __future__ import annotations

import json
import re
import shutil
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from qwen_server import __version__
from tests.processes import REPO, Service
from tests.standalone.frozen_app import Frozen, start_emulator

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
KEY = "sk-standalone"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_version(frozen: Frozen, tmp_path: Path) -> None:
    done = frozen.run("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"qwen-server {__version__}\n")


def test_licenses_name_every_bundled_dependency_with_its_text(frozen: Frozen, tmp_path: Path) -> None:
    done = frozen.run("--licenses", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert (REPO / "LICENSE").read_text().strip() in text, "the project's own MIT licence"
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in text
    titles = {_normal(m.group(1)) for m in re.finditer(r"^={78}\n(\S+) \S+", text, re.MULTILINE)}
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {_normal(re.split(r"[\[<>=~! ]", d, maxsplit=1)[0]) for d in dependencies}
    assert wanted <= titles, wanted - titles
    assert "pyinstaller" in titles, "the bootloader is PyInstaller's"
    if "av" in titles:  # PyAV is the optional `audio` extra; bundled, it brings its wheel's FFmpeg libraries
        assert re.search(r"^  av\.libs/libavcodec", text, re.MULTILINE), "the FFmpeg libraries PyAV's wheel carries"
    if shutil.which("dpkg"):
        assert "libssl3 (Debian package)" in text, "system libraries, with their Debian copyright files"


@dataclass
class Folder:
    path: Path
    emulator: Service
    gateway: Service


@pytest.fixture(scope="module")
def folder(frozen: Frozen, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Folder]:
    """A user's folder: `.env` sets the gateway key and leaves batches to a separate worker;
    `qwen_accounts.json` points at the executable's own emulator. The store is the default SQLite file."""
    path = tmp_path_factory.mktemp("user")
    emulator = start_emulator(frozen, tmp_path_factory.mktemp("upstream"))
    accounts = [
        {"email": f"user{i}@emulator.local", "password": f"password{i}", "base_url": emulator.url}
        for i in range(2)
    ]
    (path / "qwen_accounts.json").write_text(json.dumps(accounts))
    (path / ".env").write_text(f"GATEWAY_API_KEYS={KEY}\nBATCH_WORKER=false\n")
    try:
        gateway = frozen.start("serve", "--workers", "1", cwd=path)
    except RuntimeError:
        emulator.stop()
        raise
    yield Folder(path, emulator, gateway)
    gateway.stop()
    emulator.stop()


def client(folder: Folder, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{folder.gateway.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_serve_reads_the_accounts_file_and_the_env_file(folder: Folder) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(folder, "sk-wrong").models.list()
    answer = client(folder).chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "through the accounts file"}]
    )
    assert answer.choices[0].message.content == "through the accounts file"
    assert (folder.path / "data" / "state.db").is_file(), "the default store under ./data"


def test_worker_finishes_a_batch_that_serve_leaves_to_it(frozen: Frozen, folder: Folder) -> None:
    sdk = client(folder)
    lines = [
        {
            "custom_id": f"line-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "qwen3-max", "messages": [{"role": "user", "content": f"batched {i}"}]},
        }
        for i in range(3)
    ]
    uploaded = sdk.files.create(
        file=("in.jsonl", "\n".join(json.dumps(line) for line in lines).encode()), purpose="batch"
    )
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    time.sleep(1)
    assert sdk.batches.retrieve(batch.id).status in ("validating", "in_progress"), "serve runs no worker here"
    worker = frozen.popen("worker", cwd=folder.path)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and sdk.batches.retrieve(batch.id).status != "completed":
            assert worker.poll() is None, "the worker exited"
            time.sleep(0.5)
        done = sdk.batches.retrieve(batch.id)
        assert done.status == "completed" and done.output_file_id
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    output = [json.loads(x) for x in sdk.files.content(done.output_file_id).text.splitlines()]
    answers = {o["custom_id"]: o["response"]["body"]["choices"][0]["message"]["content"] for o in output}
    assert answers == {f"line-{i}": f"batched {i}" for i in range(3)}


def test_doctor_walks_every_step_against_the_accounts_file(frozen: Frozen, folder: Folder) -> None:
    done = frozen.run("doctor", "--timeout", "10", cwd=folder.path)
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("sign-in", "token check", "model list", "chat creation", "completion", "upload"):
        assert f"  {step} " in done.stdout


def test_login_without_a_browser_says_what_to_install(frozen: Frozen, tmp_path: Path) -> None:
    (tmp_path / "qwen_accounts.json").write_text(json.dumps([{"email": "a@b.c", "password": "pw"}]))
    done = frozen.run("login", cwd=tmp_path, QWEN_CHROMIUM=str(tmp_path / "no-such-browser"))
    assert done.returncode == 2 and "apt-get install chromium" in done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_login_signs_in_with_chromium_and_saves_the_session(frozen: Frozen, tmp_path: Path) -> None:
    walled = start_emulator(frozen, tmp_path, "--waf", "cookie")
    try:
        accounts_file = tmp_path / "qwen_accounts.json"
        accounts_file.write_text(
            json.dumps([{"email": "user0@emulator.local", "password": "password0", "base_url": walled.url}])
        )
        done = frozen.run("login", "--timeout", "60", cwd=tmp_path, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        saved = json.loads(accounts_file.read_text())[0]
        cookies = dict(p.split("=", 1) for p in saved["cookie"].split("; "))
        assert {"token", "acw_sc__v2"} <= cookies.keys()
    finally:
        walled.stop()
