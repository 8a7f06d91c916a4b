"""Starting the emulator and the gateway as real processes on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
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


def start_emulator(*args: str, accounts: int = 3) -> Service:
    port = free_port()
    process, log_path = _spawn(
        [
            sys.executable,
            "-m",
            "qwen_server.emulator",
            "--port",
            str(port),
            "--accounts",
            str(accounts),
            *args,
        ],
        dict(os.environ),
        "emulator",
    )
    service = Service(process, port, log_path)
    try:
        wait_http(f"{service.url}/_emulator/health", process)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    return service


def start_recording_openai() -> Service:
    """tests/fake_openai_upstream.py as a process: an OpenAI-compatible upstream that records every request
    body it receives, so a test can check what the gateway sent."""
    port = free_port()
    process, log_path = _spawn(
        [sys.executable, str(REPO / "tests" / "fake_openai_upstream.py"), "--port", str(port)],
        dict(os.environ),
        "fake-openai-recording",
    )
    service = Service(process, port, log_path)
    try:
        wait_http(f"{service.url}/health", process)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    return service


def start_fake_openai(*args: str) -> Service:
    """bench/fake_openai.py as a process: an OpenAI-compatible upstream whose keys, listed models, refused
    models and listing behaviour are set by `args` (see its docstring)."""
    port = free_port()
    process, log_path = _spawn(
        [sys.executable, str(REPO / "bench" / "fake_openai.py"), "--port", str(port), *args],
        dict(os.environ),
        "fake-openai",
    )
    service = Service(process, port, log_path)
    try:
        wait_http(f"{service.url}/_fake/stats", process)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    return service


def start_vercel_blob(token: str) -> Service:
    """tests/vercel_blob_server.py as a process: a stand-in for Vercel Blob's REST API (its URL + /api/blob)."""
    port = free_port()
    process, log_path = _spawn(
        [sys.executable, str(REPO / "tests" / "vercel_blob_server.py"), "--port", str(port), "--token", token],
        dict(os.environ),
        "vercel-blob",
    )
    service = Service(process, port, log_path)
    try:
        wait_http(f"{service.url}/_stats", process)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    return service


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
    port = port or free_port()
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "SCHED_", "STORE_"))
    }
    full_env.update({"STORE_URL": "memory://", "PYTHONUNBUFFERED": "1"})
    if accounts is not None:
        full_env["QWEN_ACCOUNTS"] = json.dumps(accounts)
    full_env.update(env or {})
    workdir = cwd or Path(tempfile.mkdtemp(prefix="gateway-"))
    full_env.setdefault("DATA_DIR", str(workdir / "data"))
    process, log_path = _spawn(
        [sys.executable, "-m", "qwen_server.cli", "serve", "--port", str(port), "--workers", str(workers)],
        full_env,
        "gateway",
        cwd=workdir,
    )
    service = Service(process, port, log_path, {"cwd": workdir})
    try:
        wait_http(f"{service.url}/health", process)
    except RuntimeError:
        service.stop()
        raise RuntimeError(service.log()) from None
    return service


def emulator_stats(emulator: Service) -> dict[str, Any]:
    response = httpx.get(f"{emulator.url}/_emulator/stats", timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def directive(**fields: Any) -> str:
    """A scripted-reply directive the emulator obeys, embedded in a prompt."""
    return "[[emulator:" + json.dumps(fields) + "]]"
