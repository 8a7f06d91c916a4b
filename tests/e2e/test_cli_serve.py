"""`qwen-server serve` as a user runs it: `--emulate` cleans up after itself, and configuration mistakes stop
start-up with a message naming the variable instead of a traceback or a server that fails every request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.processes import free_port, wait_http


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QWEN_", "GATEWAY_", "SCHED_", "STORE_", "MODEL_", "DEBUG"))
    }
    env.update(PYTHONUNBUFFERED="1", STORE_URL="memory://", **extra)
    return env


def _port_is_free(port: int) -> bool:
    """Nobody listens on it (connections left in TIME_WAIT do not count, as for any server restart)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = (
            Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
        )
        if status in ("Z", "X"):  # exited, not yet reaped by whoever adopted it
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_emulate_stops_its_emulator_when_stopped(sig: signal.Signals) -> None:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="serve-emulate-", suffix=".log")[1])
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "qwen_server.cli", "serve", "--emulate", "--port", str(port)],
            env=_env(),
            cwd=tempfile.mkdtemp(prefix="serve-emulate-"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    emulator_pid: int | None = None
    try:
        wait_http(f"http://127.0.0.1:{port}/health", serve)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "ping"}]
        )
        assert reply.choices[0].message.content == "ping"
        metrics = httpx.get(f"http://127.0.0.1:{port}/v1/metrics", timeout=30).json()
        emulator_port = urlsplit(metrics["accounts"][0]["base_url"]).port
        assert emulator_port is not None and not _port_is_free(emulator_port)
        (emulator_pid,) = _children(serve.pid)

        serve.send_signal(sig)
        assert serve.wait(timeout=15) != 0 or sig == signal.SIGINT
        assert _gone(emulator_pid, timeout=30), "the emulator outlived the server"
        assert _port_is_free(emulator_port), "the emulator's port is still held"
        assert _port_is_free(port)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if emulator_pid is not None and not _gone(emulator_pid, 0.1):
            os.kill(emulator_pid, signal.SIGKILL)


def _serve_fails(env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "serve", "--port", str(free_port())],
        env=_env(**env),
        cwd=cwd or tempfile.mkdtemp(prefix="serve-config-"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


ACCOUNT = {"email": "a@example.com", "password": "pw-not-shown"}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"QWEN_ACCOUNTS": json.dumps([{**ACCOUNT, "models": "qwen3-max"}])}, ["QWEN_ACCOUNTS", "models"]),
        ({"QWEN_ACCOUNTS": "[{not json"}, ["QWEN_ACCOUNTS"]),
        ({"QWEN_ACCOUNTS": json.dumps([ACCOUNT]), "MODEL_ALIASES": "{'a': 'b'}"}, ["MODEL_ALIASES", "JSON"]),
        ({"QWEN_ACCOUNTS": json.dumps([ACCOUNT]), "MODEL_ALIASES": '["qwen3-max"]'}, ["MODEL_ALIASES"]),
        ({"QWEN_ACCOUNTS": json.dumps([ACCOUNT]), "DEBUG": "sometimes"}, ["DEBUG"]),
        (
            {"QWEN_ACCOUNTS": json.dumps([ACCOUNT]), "SCHED_CHAT_CONCURRENT": "lots"},
            ["SCHED_CHAT_CONCURRENT"],
        ),
    ],
    ids=["models-string", "accounts-json", "aliases-json", "aliases-not-object", "debug", "sched-int"],
)
def test_config_mistakes_stop_serve_with_the_variable_named(env: dict[str, str], names: list[str]) -> None:
    stderr = _serve_fails(env)
    assert "configuration error" in stderr
    for name in names:
        assert name in stderr, stderr
    assert "pw-not-shown" not in stderr


def test_an_accounts_file_with_models_as_a_string_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "qwen_accounts.json"
    path.write_text(json.dumps([{**ACCOUNT, "models": "qwen3-max"}]))
    stderr = _serve_fails({}, cwd=tmp_path)
    assert (
        "qwen_accounts.json" in stderr and "`models` must be a list" in stderr and "['qwen3-max']" in stderr
    )
