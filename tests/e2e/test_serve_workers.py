"""`qwen-server serve --workers N` and the production command: several processes on one port sharing the store.

Which worker answered is not exposed (no header exists only for tests); instead each worker's CPU time is read
from /proc before and after a burst of requests on fresh connections: a worker that served none of them would
stay idle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, free_port, start_emulator, wait_http

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QWEN_", "GATEWAY_", "SCHED_", "STORE_", "MODEL_", "DEBUG", "REDIS_", "KV_"))
    }
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _burst(base_url: str, requests: int = 120, concurrency: int = 12) -> list[str]:
    """Non-stream chat calls through the OpenAI SDK, each on a new connection so every one is accepted anew."""
    http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=60)
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, http_client=http)

    def one(i: int) -> str:
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": f"worker check {i}"}]
        )
        return reply.choices[0].message.content or ""

    with http, ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(requests)))


def _spawn(args: list[str], env: dict[str, str], cwd: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(tempfile.mkstemp(prefix="serve-workers-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_two_workers_share_the_port_and_stop_with_the_parent(sig: signal.Signals) -> None:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="serve-workers-")
    serve, log = _spawn(
        [
            sys.executable,
            "-m",
            "qwen_server.cli",
            "serve",
            "--emulate",
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        _env(),
        workdir,
    )
    children: list[int] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/health", serve)
        children = _children(serve.pid)
        emulators = [p for p in children if " qwen_server.cli emulator " in _cmdline(p)]
        workers = [p for p in children if "multiprocessing.spawn" in _cmdline(p)]
        assert len(emulators) == 1, [_cmdline(p) for p in children]
        assert len(workers) == 2, [_cmdline(p) for p in children]
        store = re.search(r"store: sqlite:///(\S+)/state\.db; worker processes: 2", log.read_text())
        assert store is not None, log.read_text()
        store_dir = Path(store.group(1))
        assert store_dir.is_dir()

        before = {pid: _cpu_ticks(pid) for pid in workers}
        answers = _burst(f"http://127.0.0.1:{port}")
        assert answers == [f"worker check {i}" for i in range(len(answers))]
        busy = {pid: _cpu_ticks(pid) - before[pid] for pid in workers}
        # An idle worker gains about 1 tick (10 ms) in 5 s; serving a share of the burst costs dozens.
        assert all(ticks >= 5 for ticks in busy.values()), f"CPU ticks per worker during the burst: {busy}"

        serve.send_signal(sig)
        serve.wait(timeout=20)
        assert _wait_gone(children) == [], "a worker or the emulator outlived the server"
        assert not store_dir.exists(), "the emulated run's temporary store was left behind"
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_several_workers_refuse_a_memory_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "serve", "--workers", "2", "--port", str(free_port())],
        env=_env(STORE_URL="memory://", QWEN_ACCOUNTS="[]"),
        cwd=tempfile.mkdtemp(prefix="serve-workers-"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "configuration error" in done.stderr and "STORE_URL=memory://" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def emulator() -> Iterator[Service]:
    service = start_emulator(accounts=2)
    yield service
    service.stop()


@pytest.mark.skipif(
    shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None, reason="no gunicorn"
)
def test_the_gunicorn_command_from_the_readme_serves(emulator: Service, tmp_path: Path) -> None:
    port = free_port()
    env = _env(QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)), DATA_DIR=str(tmp_path))
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = (
        f"{gunicorn} qwen_server.app.local:app -k uvicorn_worker.UvicornWorker -w 2 --bind 127.0.0.1:{port}"
    )
    process, log = _spawn(
        command.split(),
        env,
        str(tmp_path),
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        assert _burst(f"http://127.0.0.1:{port}", requests=8, concurrency=4) == [
            f"worker check {i}" for i in range(8)
        ]
        assert (
            tmp_path / "state.db"
        ).exists()  # the default store: SQLite under DATA_DIR, shared by the workers
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0, log.read_text()
