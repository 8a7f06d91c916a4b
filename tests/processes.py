"""Starting the emulator and the gateway as real processes on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.services import free_port

REPO = Path(__file__).resolve().parents[1]


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until `url` answers 200; each try may take seconds (a first request on a busy machine does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _spawn(
    args: list[str], env: dict[str, str], name: str, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
    handle = open(log_path, "wb")
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
    return process, log_path


def _serve(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    name: str,
    health: str,
    cwd: Path | None = None,
    port: int | None = None,
) -> Service:
    """Start `command(port)` on a free port (or the `port` given, which the caller already told someone) and
    wait until `health` answers. A port found free can be taken by another process before ours binds it (many
    tests start servers at once): then try another port."""
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_port()
        process, log_path = _spawn(command(chosen), env, name, cwd=cwd)
        service = Service(process, chosen, log_path, {"cwd": cwd} if cwd else {})
        try:
            wait_http(f"{service.url}{health}", process)
            return service
        except RuntimeError:
            service.stop()
            if "address already in use" in service.log() and attempt < attempts - 1:
                continue
            raise RuntimeError(service.log()) from None
    raise AssertionError("unreachable")


def start_emulator(*args: str, accounts: int = 3) -> Service:
    return _serve(
        lambda port: [
            sys.executable, "-m", "qwen_server.emulator", "--port", str(port), "--accounts", str(accounts), *args,
        ],
        dict(os.environ),
        "emulator",
        "/_emulator/health",
    )  # fmt: skip


def start_recording_openai() -> Service:
    """tests/fake_openai_upstream.py as a process: an OpenAI-compatible upstream that records every request
    body it receives, so a test can check what the gateway sent."""
    return _serve(
        lambda port: [sys.executable, str(REPO / "tests" / "fake_openai_upstream.py"), "--port", str(port)],
        dict(os.environ),
        "fake-openai-recording",
        "/health",
    )


def start_fake_openai(*args: str) -> Service:
    """bench/fake_openai.py as a process: an OpenAI-compatible upstream whose keys, listed models, refused
    models and listing behaviour are set by `args` (see its docstring)."""
    return _serve(
        lambda port: [sys.executable, str(REPO / "bench" / "fake_openai.py"), "--port", str(port), *args],
        dict(os.environ),
        "fake-openai",
        "/_fake/stats",
    )


def start_vercel_blob(token: str) -> Service:
    """tests/vercel_blob_server.py as a process: a stand-in for Vercel Blob's REST API (its URL + /api/blob)."""
    return _serve(
        lambda port: [
            sys.executable, str(REPO / "tests" / "vercel_blob_server.py"), "--port", str(port), "--token", token,
        ],
        dict(os.environ),
        "vercel-blob",
        "/_stats",
    )  # fmt: skip


def emulator_accounts(emulator: Service, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "email": f"user{i}@emulator.local",
            "password": f"password{i}",
            "base_url": emulator.url,
            "name": f"emu{i}",
            **extra,
        }
        for i in range(count)
    ]


def start_gateway(
    env: dict[str, str] | None = None,
    *,
    accounts: list[dict[str, Any]] | None = None,
    cwd: Path | None = None,
    workers: int = 1,
    port: int | None = None,
) -> Service:
    """`qwen-server serve` on a free port (or `port`); one worker process unless `workers` says otherwise."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "SCHED_", "STORE_"))
    }
    full_env.update({"STORE_URL": "memory://", "PYTHONUNBUFFERED": "1"})
    if accounts is not None:
        full_env["QWEN_ACCOUNTS"] = json.dumps(accounts)
    full_env.update(env or {})
    workdir = cwd or Path(tempfile.mkdtemp(prefix="gateway-"))
    full_env.setdefault("DATA_DIR", str(workdir / "data"))
    return _serve(
        lambda port: [
            sys.executable, "-m", "qwen_server.cli", "serve", "--port", str(port), "--workers", str(workers),
        ],
        full_env,
        "gateway",
        "/health",
        cwd=workdir,
        port=port,
    )  # fmt: skip


def emulator_stats(emulator: Service) -> dict[str, Any]:
    response = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def directive(**fields: Any) -> str:
    """A scripted-reply directive the emulator obeys, embedded in a prompt."""
    return "[[emulator:" + json.dumps(fields) + "]]"
