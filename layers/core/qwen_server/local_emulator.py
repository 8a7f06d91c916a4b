"""`serve --emulate`: the built-in emulator as a child process, for exactly as long as the server runs.

The child is stopped however `serve` ends: Ctrl-C, SIGTERM, a configuration error or a crash. SIGTERM needs
care: uvicorn handles it during serving, then restores the previous handler and raises the signal again;
with Python's default handler that kills the process on the spot, skipping every `finally`, and the emulator
would outlive the server holding its port. `exit_on_sigterm` makes that signal a normal `SystemExit`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from qwen_server.relaunch import self_command

BANNER = """
  ************************************************************************
  *  EMULATED UPSTREAM: answers come from the built-in Qwen emulator,     *
  *  not from Qwen. Configure real accounts to talk to Qwen (see README). *
  ************************************************************************
"""


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM raises `SystemExit` in the main thread, so cleanup runs as it does for Ctrl-C."""
    signal.signal(signal.SIGTERM, _sigterm)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(accounts: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        self_command(
            "emulator",
            "--port",
            str(port),
            "--accounts",
            str(accounts),
            "--token-latency",
            "0.02",
            "--first-token-latency",
            "0.2",
        ),
    )
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=0.5).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise SystemExit("the emulator did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the child and wait for it (killed if it takes more than 5 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def emulated_upstream(accounts: int, *, shared_store: bool = False) -> Iterator[int]:
    """Run the emulator and point `QWEN_ACCOUNTS` at it; yields its port.

    Unless `STORE_URL` is set, state lives in memory, or, when several worker processes must share it
    (`shared_store`), in a temporary SQLite file removed afterwards: the emulator is new on every start, so
    nothing about its accounts is worth keeping under `DATA_DIR`.
    """
    with ExitStack() as cleanup:
        if shared_store and "STORE_URL" not in os.environ:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="qwen-emulate-"))
            os.environ["STORE_URL"] = f"sqlite:///{Path(folder, 'state.db').as_posix()}"
        process, port = _start(accounts)
        cleanup.callback(stop, process)
        yield _point_accounts_at(accounts, port)


def _point_accounts_at(accounts: int, port: int) -> int:
    """Set `QWEN_ACCOUNTS` (inherited by worker processes) to the emulator's accounts; returns the port."""
    os.environ["QWEN_ACCOUNTS"] = json.dumps(
        [
            {
                "email": f"user{i}@emulator.local",
                "password": f"password{i}",
                "base_url": f"http://127.0.0.1:{port}",
            }
            for i in range(accounts)
        ]
    )
    os.environ.setdefault("STORE_URL", "memory://")
    print(BANNER, file=sys.stderr, flush=True)
    return port
